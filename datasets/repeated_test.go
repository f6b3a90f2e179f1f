package datasets

import (
	"strings"
	"testing"
)

// A file of recorded answers repeats a question's id on each of its lines;
// RepeatedIDs accepts that, and still refuses an empty id.
func TestRepeatedIDs(t *testing.T) {
	in := "id,model,answer\nq1,a,Yes.\nq1,b,No.\nq2,a,Maybe.\n"
	if _, err := ReadCSV("a.csv", strings.NewReader(in), ',', Options{}); err == nil || !strings.Contains(err.Error(), `a.csv:3:1: field "id": duplicate id "q1"`) {
		t.Errorf("without RepeatedIDs: %v", err)
	}
	ds, err := ReadCSV("a.csv", strings.NewReader(in), ',', Options{RepeatedIDs: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Rows[0].ID != "q1" || ds.Rows[1].ID != "q1" || ds.Rows[2].ID != "q2" {
		t.Errorf("ids %s %s %s", ds.Rows[0].ID, ds.Rows[1].ID, ds.Rows[2].ID)
	}
	jl := `{"id": "q1", "answer": "Yes."}` + "\n" + `{"id": "q1", "answer": "No."}` + "\n" + `{"id": "", "answer": "?"}` + "\n"
	if _, err := ReadJSONL("a.jsonl", strings.NewReader(jl), Options{RepeatedIDs: true}); err == nil || !strings.Contains(err.Error(), `a.jsonl:3: field "id": empty id`) {
		t.Errorf("an empty id: %v", err)
	}
}
