package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/evalctl/evalctl/llm/tokens"
	"regexp"
	"strings"
	"unicode"
)

// rng is a small deterministic generator seeded from text.
type rng struct{ state uint64 }

func newRNG(parts ...string) *rng {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return &rng{binary.LittleEndian.Uint64(h.Sum(nil))}
}

func (r *rng) next() uint64 { // splitmix64
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) float() float64        { return float64(r.next()>>11) / (1 << 53) }
func (r *rng) intn(n int) int        { return int(r.next() % uint64(n)) }
func (r *rng) chance(p float64) bool { return r.float() < p }

// traits are a simulated model's habits, derived from its name.
type traits struct {
	verbosity  float64 // 0.6 .. 1.4
	definition float64 // chance of quoting a definition
	domain     float64 // chance of tying the answer to software engineering
	offTopic   float64 // chance of a generic, off-topic answer
	italian    float64 // chance of answering in Italian
}

func traitsFor(model string) traits {
	r := newRNG("traits", model)
	return traits{
		verbosity:  0.6 + 0.8*r.float(),
		definition: 0.35 + 0.5*r.float(),
		domain:     0.45 + 0.5*r.float(),
		offTopic:   0.01 + 0.05*r.float(),
		italian:    0.005 + 0.03*r.float(),
	}
}

var questionLine = regexp.MustCompile(`(?mi)^\s*question\s*:\s*(.+)$`)

// subject turns "What is an algorithm?" into "an algorithm".
func subject(q string) string {
	s := strings.TrimSpace(q)
	s = strings.TrimRight(s, "?.! ")
	low := strings.ToLower(s)
	for _, p := range []string{"what is the purpose of ", "what are ", "what is ", "what's ", "describe ", "explain ", "define ", "how does ", "why is ", "difference among ", "difference between "} {
		if strings.HasPrefix(low, p) {
			s = s[len(p):]
			break
		}
	}
	if i := strings.Index(s, ", "); i > 0 && strings.HasPrefix(strings.ToLower(s), "in the context of") {
		s = s[i+2:]
	}
	if s == "" {
		s = "the concept"
	}
	return s
}

var fillers = []string{
	"It is usually discussed together with the trade-offs it introduces in real projects.",
	"Engineers rely on it to keep systems maintainable as they grow.",
	"The idea applies to both small scripts and large distributed systems.",
	"Tooling such as version control, build automation and continuous integration makes it practical.",
	"Algorithms and data structures give the precise vocabulary to reason about it.",
	"A clear specification of inputs and outputs helps to test it.",
	"Its value shows when requirements change and the code must follow.",
	"Teams document the decision so that later maintainers understand the context.",
	"Hardware constraints and software abstractions both shape how it is applied.",
	"Good practice is to start simple and refine the design when evidence demands it.",
	"It reduces coupling between components and makes responsibilities explicit.",
	"Testing at several levels, from unit to acceptance tests, gives confidence that it works as intended.",
	"Misunderstanding it is a frequent source of defects in production systems.",
	"The concept has a long history in computing and is still evolving.",
}

var italianFillers = []string{
	"Questo concetto è fondamentale nell'ingegneria del software.",
	"Viene usato per rendere i sistemi più semplici da mantenere.",
	"Un esempio tipico si trova nei progetti open source.",
	"È importante conoscerne vantaggi e svantaggi.",
}

// answer writes a deterministic exam answer for a generation prompt.
func answer(model, system, user string, maxTokens, variant int) (string, string) {
	t := traitsFor(model)
	r := newRNG("answer", model, system, user, fmt.Sprint(variant))
	q := user
	if m := questionLine.FindStringSubmatch(user); m != nil {
		q = m[1]
	}
	subj := subject(q)
	low := strings.ToLower(user)

	words := 140.0
	switch {
	case strings.Contains(low, "answer the question above") || strings.Contains(low, "concise answer"):
		words = 55
	case strings.Contains(low, "rigorous") || strings.Contains(low, "academic"):
		words = 300
	case strings.Contains(low, "example") || strings.Contains(low, "real-world"):
		words = 200
	}
	words *= t.verbosity * (0.8 + 0.4*r.float())
	defP, domP := t.definition, t.domain
	if strings.Contains(low, "terminology") || strings.Contains(low, "reference key concepts") {
		defP = min(1, defP+0.3)
	}
	if strings.Contains(low, "software development") {
		domP = min(1, domP+0.25)
	}

	var s []string
	switch {
	case r.chance(t.italian):
		s = append(s, fmt.Sprintf("%s è un concetto centrale.", capitalize(subj)))
		for len(strings.Fields(strings.Join(s, " "))) < int(words) {
			s = append(s, italianFillers[r.intn(len(italianFillers))])
		}
	case r.chance(t.offTopic):
		s = append(s, "That is a broad topic, and the answer depends on many factors that vary from case to case.")
	default:
		if r.chance(defP) {
			s = append(s, fmt.Sprintf("%s is defined as the set of ideas and practices that the question names; a widely cited definition describes it precisely in terms of its purpose and its parts.", capitalize(subj)))
		} else {
			s = append(s, fmt.Sprintf("%s is best understood through what it does and why it is needed.", capitalize(subj)))
		}
		if r.chance(domP) {
			s = append(s, fmt.Sprintf("In software engineering, %s matters because it affects how software is designed, built, tested and maintained.", subj))
		}
		if strings.Contains(low, "example") {
			s = append(s, fmt.Sprintf("For example, a team building a web service meets %s when it plans a release.", subj))
		}
		for len(strings.Fields(strings.Join(s, " "))) < int(words) {
			s = append(s, fillers[r.intn(len(fillers))])
		}
	}
	text := strings.Join(s, " ")
	if maxTokens > 0 && tokens.Count(text) > maxTokens {
		// Cut at a word boundary near the limit (about four characters a
		// token), then trim words until the limit holds.
		if cut := 4 * maxTokens; cut < len(text) {
			text = strings.ToValidUTF8(text[:cut], "")
		}
		for tokens.Count(text) > maxTokens {
			i := strings.LastIndexByte(text, ' ')
			if i <= 0 {
				break
			}
			text = text[:i]
		}
		return text, "length"
	}
	return text, "stop"
}

func capitalize(s string) string {
	for i, c := range s {
		return string(unicode.ToUpper(c)) + s[i+len(string(c)):]
	}
	return s
}

// isJudgePrompt tells a judge prompt (criteria and an answer block, asking for
// a JSON verdict) from a generation prompt.
func isJudgePrompt(user string) bool {
	return (strings.Contains(user, `"result"`) || strings.Contains(user, `"score"`)) && strings.Contains(user, "\n<<<ANSWER-")
}

// block returns the text of the first block "<<<NAME-tag>>>\n...\n<<<END-NAME-tag>>>"
// that starts a line.
func block(text, name string) (string, bool) {
	open := "\n<<<" + name + "-"
	i := strings.Index(text, open)
	if i < 0 {
		return "", false
	}
	rest := text[i+len(open):]
	j := strings.Index(rest, ">>>\n")
	if j < 0 {
		return "", false
	}
	tag := rest[:j]
	body := rest[j+4:]
	end := "\n<<<END-" + name + "-" + tag + ">>>"
	k := strings.Index(body, end)
	if k < 0 {
		return "", false
	}
	return body[:k], true
}

var quoted = regexp.MustCompile(`"([^"]+)"|“([^”]+)”`)

// judgeReply decides a verdict the way a careful but imperfect judge might.
func judgeReply(model, user string, key [32]byte, temperature float64) string {
	r := newRNG("judge", model, string(key[:]))
	// Judges are not perfect: 2% of verdicts flip, and more when sampled
	// at a temperature (each sample is its own draw).
	flip := 0.02 + 0.1*min(temperature, 1)
	if a, ok := block(user, "ANSWER-A"); ok {
		b, _ := block(user, "ANSWER-B")
		q, _ := block(user, "QUESTION")
		return pairReply(r, q, a, b)
	}
	if exp, ok := block(user, "EXPECTED"); ok {
		ans, _ := block(user, "ANSWER")
		ov := overlap(exp, ans)
		return verdictJSON(r, flip, ov >= 0.3, fmt.Sprintf("The answer shares %.0f%% of the reference answer's key terms.", 100*ov))
	}
	if fact, ok := block(user, "FACT"); ok {
		ans, _ := block(user, "ANSWER")
		ov := overlap(fact, ans)
		return verdictJSON(r, flip, ov >= 0.5, fmt.Sprintf("%.0f%% of the fact's key terms appear in the answer.", 100*ov))
	}
	crit, _ := block(user, "CRITERIA")
	ans, ok := block(user, "ANSWER")
	if !ok {
		ans = user
	}
	q, _ := block(user, "QUESTION")
	if m := questionLine.FindStringSubmatch(q); m != nil {
		q = m[1]
	}
	lc, la := strings.ToLower(crit), strings.ToLower(ans)

	pass, why := true, ""
	switch {
	case strings.Contains(lc, "english"):
		pass = englishRatio(ans) > 0.9 && !strings.Contains(la, " è ")
		why = map[bool]string{true: "The answer is written in English.", false: "The answer is not written in English."}[pass]
	case strings.Contains(lc, "software engineering"):
		pass = strings.Contains(la, "software")
		why = map[bool]string{true: "The answer places the concept within software engineering.", false: "The answer does not relate the concept to software engineering."}[pass]
	case strings.Contains(lc, "definition"):
		pass = strings.Contains(la, "defined as") || strings.Contains(la, "definition") || strings.Contains(la, "refers to")
		why = map[bool]string{true: "The answer states a definition of the main concept.", false: "The answer does not quote or reference a definition."}[pass]
	case strings.Contains(lc, "relevant"):
		ov := overlap(q, ans)
		pass = ov >= 0.3
		why = fmt.Sprintf("%.0f%% of the question's key terms appear in the answer.", 100*ov)
	case quoted.MatchString(crit):
		pass, why = expectations(crit, la)
	default:
		pass = r.chance(0.75)
		why = "Judged against the stated criteria."
	}
	if scale, ok := block(user, "SCALE"); ok {
		return rubricReply(r, scale, pass, ans, why)
	}
	return verdictJSON(r, flip, pass, why)
}

// verdictJSON is a yes/no verdict; a share of them flip.
func verdictJSON(r *rng, flip float64, pass bool, why string) string {
	if r.chance(flip) {
		pass = !pass
		why += " (On balance.)"
	}
	out, _ := json.Marshal(map[string]string{"rationale": why, "result": map[bool]string{true: "yes", false: "no"}[pass]})
	return string(out)
}

// rubricReply scores on the prompt's scale: high when the criterion is met,
// a little higher for fuller answers, and noisy by a point now and then.
func rubricReply(r *rng, scale string, pass bool, answer, why string) string {
	var points []int
	for _, line := range strings.Split(scale, "\n") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "%d:", &n); err == nil {
			points = append(points, n)
		}
	}
	if len(points) < 2 {
		points = []int{1, 5}
	}
	lo, hi := points[0], points[len(points)-1]
	for _, p := range points {
		lo, hi = min(lo, p), max(hi, p)
	}
	score := lo + (hi-lo)/3
	if pass {
		score = hi - 1
		if len(strings.Fields(answer)) > 60 {
			score = hi
		}
	}
	if r.chance(0.1) {
		score += 1 - 2*r.intn(2)
	}
	score = max(lo, min(hi, score))
	out, _ := json.Marshal(map[string]any{"rationale": why, "score": score})
	return string(out)
}

// pairReply prefers the answer that covers more of the question, as a
// judge would, but like real judges it has a position bias: one time in
// eight it picks the first answer whatever they say.
func pairReply(r *rng, q, a, b string) string {
	qa, qb := overlap(q, a), overlap(q, b)
	la, lb := len(strings.Fields(a)), len(strings.Fields(b))
	sa := qa + 0.002*float64(min(la, 200))
	sb := qb + 0.002*float64(min(lb, 200))
	result, why := "tie", "Both answers cover the question about equally well."
	switch {
	case r.chance(0.125):
		result, why = "A", "Answer A reads as the more complete answer."
	case sa > sb+0.05:
		result, why = "A", fmt.Sprintf("Answer A covers more of the question (%.0f%% against %.0f%% of its key terms).", 100*qa, 100*qb)
	case sb > sa+0.05:
		result, why = "B", fmt.Sprintf("Answer B covers more of the question (%.0f%% against %.0f%% of its key terms).", 100*qb, 100*qa)
	}
	out, _ := json.Marshal(map[string]string{"rationale": why, "result": result})
	return string(out)
}

func expectations(crit, answerLower string) (bool, string) {
	var missing, present []string
	for _, clause := range regexp.MustCompile(`[;\n]`).Split(crit, -1) {
		neg := regexp.MustCompile(`(?i)\bnot\b`).MatchString(clause)
		for _, m := range quoted.FindAllStringSubmatch(clause, -1) {
			phrase := m[1] + m[2]
			has := strings.Contains(answerLower, strings.ToLower(phrase))
			if neg && has {
				present = append(present, phrase)
			} else if !neg && !has {
				missing = append(missing, phrase)
			}
		}
	}
	switch {
	case len(present) > 0:
		return false, fmt.Sprintf("The answer says %q, which the expectations rule out.", present[0])
	case len(missing) > 0:
		return false, fmt.Sprintf("The answer does not mention: %s.", strings.Join(missing, ", "))
	}
	return true, "The answer meets every expectation."
}

func englishRatio(s string) float64 {
	var letters, ascii int
	for _, c := range s {
		if unicode.IsLetter(c) {
			letters++
			if c < 128 {
				ascii++
			}
		}
	}
	if letters == 0 {
		return 0
	}
	return float64(ascii) / float64(letters)
}

var stop = map[string]bool{"what": true, "is": true, "the": true, "a": true, "an": true, "of": true, "in": true, "and": true, "to": true, "how": true, "does": true, "are": true, "context": true, "describe": true, "explain": true, "about": true, "it": true, "for": true, "with": true, "why": true}

func overlap(question, answer string) float64 {
	aw := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(answer), notWord) {
		aw[w] = true
	}
	var n, hit int
	for _, w := range strings.FieldsFunc(strings.ToLower(question), notWord) {
		if stop[w] || len(w) < 3 {
			continue
		}
		n++
		if aw[w] {
			hit++
		}
	}
	if n == 0 {
		return 1
	}
	return float64(hit) / float64(n)
}

func notWord(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) }
