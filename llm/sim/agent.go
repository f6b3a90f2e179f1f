package sim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// toolDef is a tool offered in a request.
type toolDef struct {
	Type     string `json:"type"`
	Function struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// toolCall is a tool call in an assistant message or a reply.
type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// agentTraits are a simulated model's habits with tools, derived from its
// name, so that variants differ on every trajectory scorer.
type agentTraits struct {
	use      float64 // chance of calling a tool at the first step
	parallel float64 // chance of two calls in one step
	again    float64 // chance of searching again after results
	cite     float64 // chance of citing what the tools found
	invent   float64 // chance of citing a page no tool returned
	badArgs  float64 // chance of writing arguments that are not JSON
	loops    bool    // never stops calling tools (a model named *loop*)
}

func agentTraitsFor(model string) agentTraits {
	r := newRNG("agent", model)
	return agentTraits{
		use:      0.7 + 0.25*r.float(),
		parallel: 0.1 + 0.2*r.float(),
		again:    0.05 + 0.15*r.float(),
		cite:     0.5 + 0.4*r.float(),
		invent:   0.05 + 0.15*r.float(),
		badArgs:  0.01 + 0.03*r.float(),
		loops:    strings.Contains(strings.ToLower(model), "loop"),
	}
}

var mdLink = regexp.MustCompile(`\[([^\]\n]{1,200})\]\((https?://[^\s)]{1,500})\)`)

// agentTurn decides a simulated model's turn when it is offered tools: a
// list of tool calls, or (calls nil) the final answer text. question is
// the first user message; results are the tool messages so far; rounds
// counts the assistant turns that called tools.
func agentTurn(model, system, question string, maxTokens, draw int, tools []toolDef, parallelOK bool,
	rounds int, results []string) (calls []toolCall, text, finish string) {
	t := agentTraitsFor(model)
	r := newRNG("agent-turn", model, system, question, fmt.Sprint(draw), fmt.Sprint(rounds))
	q := question
	if m := questionLine.FindStringSubmatch(question); m != nil {
		q = m[1]
	}
	subj := subject(q)
	search := rounds == 0 && r.chance(t.use) || rounds > 0 && rounds < 3 && r.chance(t.again) || t.loops
	if search && len(tools) > 0 {
		td := pickTool(tools, system+"\n"+question)
		tool := td.Function.Name
		queries := []string{subj}
		if rounds > 0 {
			queries = []string{subj + " definition"}
		}
		if t.loops {
			queries = []string{fmt.Sprintf("%s (attempt %d)", subj, rounds+1)}
		} else if parallelOK && r.chance(t.parallel) {
			queries = append(queries, subj+" software engineering")
		}
		for i, qq := range queries {
			args, _ := json.Marshal(toolArgs(td.Function.Parameters, qq))
			if r.chance(t.badArgs) {
				args = args[:len(args)-1] // cut short: not JSON
			}
			var c toolCall
			c.ID = fmt.Sprintf("call_%x_%d_%d", newRNG("call", model, question, fmt.Sprint(rounds)).next()&0xffffffff, rounds, i)
			c.Type = "function"
			c.Function.Name, c.Function.Arguments = tool, string(args)
			calls = append(calls, c)
		}
		return calls, "", "tool_calls"
	}
	text, finish = answer(model, system, question, maxTokens, draw)
	var found [][]string
	for _, res := range results {
		if strings.HasPrefix(res, "Error") {
			continue
		}
		found = append(found, mdLink.FindAllStringSubmatch(res, -1)...)
	}
	var cites []string
	if len(found) > 0 && r.chance(t.cite) {
		n := 1 + r.intn(min(2, len(found)))
		for _, f := range found[:n] {
			cites = append(cites, fmt.Sprintf("- [%s](%s)", f[1], f[2]))
		}
	}
	if rounds > 0 && r.chance(t.invent) {
		slug := strings.ToLower(strings.Join(strings.Fields(subj), "-"))
		cites = append(cites, fmt.Sprintf("- [Notes on %s](https://www.se-notes.example/%s)", subj, slug))
	}
	if len(cites) > 0 {
		text += "\n\nSources:\n" + strings.Join(cites, "\n")
	}
	return nil, text, finish
}

// pickTool chooses the tool a simulated model calls: one the prompt names
// ("the echo tool", or `echo`), else a search tool, else the first.
func pickTool(tools []toolDef, prompt string) toolDef {
	low := strings.ToLower(prompt)
	for _, td := range tools {
		n := strings.ToLower(td.Function.Name)
		if strings.Contains(low, "the "+n+" tool") || strings.Contains(low, "`"+n+"`") {
			return td
		}
	}
	for _, td := range tools {
		if strings.Contains(td.Function.Name, "search") {
			return td
		}
	}
	return tools[0]
}

// toolArgs fills a tool's arguments from its JSON Schema: strings get the
// query (or an enum's first value), numbers 3, booleans false; properties
// not required are set only when they are a query or a result count.
func toolArgs(schema json.RawMessage, query string) map[string]any {
	var sc struct {
		Properties map[string]struct {
			Type any   `json:"type"`
			Enum []any `json:"enum"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	json.Unmarshal(schema, &sc)
	args := map[string]any{}
	for name, p := range sc.Properties {
		required := false
		for _, r := range sc.Required {
			required = required || r == name
		}
		if !required && name != "query" && name != "max_results" {
			continue
		}
		typ, _ := p.Type.(string)
		switch {
		case len(p.Enum) > 0:
			args[name] = p.Enum[0]
		case typ == "number" || typ == "integer":
			args[name] = 3
		case typ == "boolean":
			args[name] = false
		default:
			args[name] = query
		}
	}
	if len(sc.Properties) == 0 && len(schema) == 0 {
		args["query"] = query
	}
	return args
}
