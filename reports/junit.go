package reports

import (
	"encoding/xml"
	"fmt"
	"io"

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
// apply is skipped.
func WriteJUnit(w io.Writer, runID string, l eval.Layout, results []eval.Result) error {
	doc := junitSuites{Name: "evalctl " + runID}
	index := map[[2]string]int{}
	for _, p := range l.Prompts {
		for _, m := range l.Models {
			index[[2]string{p.Name, m.Ref}] = len(doc.Suites)
			doc.Suites = append(doc.Suites, junitSuite{Name: p.Name + "@" + p.Version + " × " + m.Ref})
		}
	}
	for _, r := range results {
		i, ok := index[[2]string{r.Prompt.Name, r.Model.Ref.String()}]
		if !ok {
			continue
		}
		s := &doc.Suites[i]
		class := r.Prompt.Name + "." + r.Model.Ref.String()
		caseName := func(scorer string) string {
			if l.Repeat > 1 {
				return fmt.Sprintf("%s#%d: %s", r.Row.ID, r.Repeat, scorer)
			}
			return r.Row.ID + ": " + scorer
		}
		secs := fmt.Sprintf("%.3f", r.Latency.Seconds())
		if r.Err != nil {
			s.Cases = append(s.Cases, junitCase{Name: caseName("generation"), Classname: class, Time: secs,
				Error: &junitProblem{Message: r.Err.Error(), Type: r.Err.Kind.String()}})
			s.Tests++
			s.Errors++
			continue
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
			s.Cases = append(s.Cases, c)
			s.Tests++
		}
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
