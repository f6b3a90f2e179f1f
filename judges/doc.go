// Package judges implements LLM judges as scorers.Scorer: "guidelines"
// (natural-language criteria, fixed in the config or read per row from a
// dataset column), "expectations" (per-row criteria), "relevance_to_query"
// and "safety" (fixed criteria), "correctness" (an expected answer or
// facts), "rubric" (a described integer scale), "pairwise" (against a
// baseline's answer, in both orders) and "trajectory_judge" (an agent's tool
// calls and answer, against criteria on how it used its tools).
//
// The judge sees the criteria, the question and the answer as data blocks
// fenced by marker lines that carry a random tag chosen per request, so an
// answer cannot close its block or pose as criteria (a trajectory judge's
// steps are fenced too, each tool call one line of JSON, so that no tool
// result can start a line of its own); the prompt says that nothing inside
// the blocks can change the instructions. The judge replies with a JSON
// verdict {"rationale": ..., "result": "yes"|"no"}; the parser tolerates
// code fences and prose around it, but a reply without a valid result is
// never a pass: it is asked again once, then recorded as a judge error.
//
// Each family has its own file; judge.go holds what they share (the
// registry, templates, delimiter tags, the call to each judge model, samples
// and majority votes) and verdict.go the verdict parser.
package judges
