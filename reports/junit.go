package reports

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"os"

	"github.com/evalctl/evalctl/eval"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes JUnit XML: a test suite per prompt × model, a test case
// per question × scorer. A failed score is a failure carrying the rationale;
// a scorer error or a failed generation is an error; a scorer that does not
// apply is skipped. Results stream in cell order, which interleaves the
// suites, so each suite's cases are spilled to a temporary file and the
// document is assembled from them: memory does not grow with the run.
func WriteJUnit(w io.Writer, runID string, l eval.Layout, results Each) error {
	type spill struct {
		junitSuite
		f   *os.File
		enc *xml.Encoder
	}
	var suites []*spill
	defer func() {
		for _, s := range suites {
			if s.f != nil {
				s.f.Close()
				os.Remove(s.f.Name())
			}
		}
	}()
	index := map[string]int{}
	variants := l.AllVariants()
	labels := eval.Labels(variants)
	for _, v := range variants {
		index[v.ID] = len(suites)
		name := v.Prompt.Name + "@" + v.Prompt.Version + " × " + v.Model.Ref
		if lb := labels[v.ID]; lb != "" {
			name = lb + ": " + name
		}
		suites = append(suites, &spill{junitSuite: junitSuite{Name: name}})
	}
	add := func(s *spill, c junitCase) error {
		if s.f == nil {
			f, err := os.CreateTemp("", "evalctl-junit-*.xml")
			if err != nil {
				return err
			}
			s.f, s.enc = f, xml.NewEncoder(f) // buffered by the encoder
			s.enc.Indent("    ", "  ")
		}
		s.Tests++
		return s.enc.EncodeElement(c, xml.StartElement{Name: xml.Name{Local: "testcase"}})
	}
	err := results(func(r eval.Record) error {
		i, ok := index[r.Variant.ID]
		if !ok {
			return nil
		}
		s := suites[i]
		class := r.Variant.Prompt.Name + "." + r.Variant.Model.Ref
		caseName := func(scorer string) string {
			if l.Repeat > 1 {
				return fmt.Sprintf("%s#%d: %s", r.RowID, r.Repeat, scorer)
			}
			return r.RowID + ": " + scorer
		}
		secs := fmt.Sprintf("%.3f", r.Latency.Seconds())
		if r.Err != nil {
			s.Errors++
			return add(s, junitCase{Name: caseName("generation"), Classname: class, Time: secs,
				Error: &junitProblem{Message: r.Err.Error(), Type: r.Err.Kind.String()}})
		}
		for _, fb := range r.Feedback {
			c := junitCase{Name: caseName(fb.Scorer), Classname: class, Time: fmt.Sprintf("%.3f", fb.Latency.Seconds())}
			switch {
			case fb.Err != "":
				c.Error = &junitProblem{Message: fb.Err, Type: "scorer_error", Text: fb.Raw}
				s.Errors++
			case fb.Skipped:
				c.Skipped = &junitProblem{Message: fb.Rationale}
				s.Skipped++
			case fb.Pass != nil && !*fb.Pass:
				c.Failure = &junitProblem{Message: fb.Rationale, Type: "fail", Text: "answer:\n" + r.Answer}
				s.Failures++
			}
			if err := add(s, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	doc := junitSuites{Name: "evalctl " + runID}
	for _, s := range suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	bw := bufio.NewWriter(w)
	io.WriteString(bw, xml.Header)
	start := func(name string, attrs ...any) {
		fmt.Fprintf(bw, "<%s", name)
		for i := 0; i < len(attrs); i += 2 {
			fmt.Fprintf(bw, " %s=\"", attrs[i])
			xml.EscapeText(bw, []byte(fmt.Sprint(attrs[i+1])))
			bw.WriteString("\"")
		}
		bw.WriteString(">")
	}
	start("testsuites", "name", doc.Name, "tests", doc.Tests, "failures", doc.Failures, "errors", doc.Errors, "skipped", doc.Skipped)
	for _, s := range suites {
		bw.WriteString("\n  ")
		start("testsuite", "name", s.Name, "tests", s.Tests, "failures", s.Failures, "errors", s.Errors, "skipped", s.Skipped)
		if s.f != nil {
			if err := s.enc.Flush(); err != nil {
				return err
			}
			bw.WriteString("\n")
			if _, err := s.f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			if _, err := io.Copy(bw, s.f); err != nil {
				return err
			}
			bw.WriteString("\n  ")
		}
		bw.WriteString("</testsuite>")
	}
	bw.WriteString("\n</testsuites>\n")
	return bw.Flush()
}
