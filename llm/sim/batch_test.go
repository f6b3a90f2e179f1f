package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(d time.Duration) {
	c.mu.Lock()
	c.t = time.Unix(1_800_000_000, 0).Add(d)
	c.mu.Unlock()
}

func newClock() *clock { c := &clock{}; c.set(0); return c }

func do(t *testing.T, method, url, ctype string, body io.Reader) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func upload(t *testing.T, base, name, purpose string, data []byte) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("purpose", purpose)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	code, b := do(t, "POST", base+"/files", mw.FormDataContentType(), &buf)
	var m map[string]any
	json.Unmarshal(b, &m)
	return code, m
}

func jsonDo(t *testing.T, method, url string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	code, b := do(t, method, url, "application/json", r)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d %s", method, url, code, b)
	}
	return code, m
}

func line(id, model, user string) string {
	b, _ := json.Marshal(map[string]any{"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
		"body": chat(model, "You are a professor.", user)})
	return string(b)
}

func jsonl(n int) []byte {
	var b strings.Builder
	for i := range n {
		b.WriteString(line(fmt.Sprintf("r%d", i), "m", fmt.Sprintf("Question: What is test %d?", i)) + "\n")
	}
	return []byte(b.String())
}

// submit uploads data and creates a batch from it.
func submit(t *testing.T, base string, data []byte) map[string]any {
	t.Helper()
	code, f := upload(t, base, "in.jsonl", "batch", data)
	if code != 200 {
		t.Fatalf("upload: %d %v", code, f)
	}
	code, b := jsonDo(t, "POST", base+"/batches", map[string]any{"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"})
	if code != 200 || b["status"] != "validating" {
		t.Fatalf("create: %d %v", code, b)
	}
	return b
}

func counts(b map[string]any) string {
	c := b["request_counts"].(map[string]any)
	return fmt.Sprintf("%v %v/%v/%v", b["status"], c["total"], c["completed"], c["failed"])
}

func fileLines(t *testing.T, base string, id any) []map[string]any {
	t.Helper()
	if id == nil {
		return nil
	}
	code, b := do(t, "GET", fmt.Sprintf("%s/files/%v/content", base, id), "", nil)
	if code != 200 {
		t.Fatalf("content %v: %d", id, code)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("file %v: %v in %q", id, err, l)
		}
		out = append(out, m)
	}
	return out
}

func TestBatchLifecycle(t *testing.T) {
	clk := newClock()
	srv, _ := Start("127.0.0.1:0", Options{BatchDelay: 100 * time.Second, Clock: clk.now})
	defer srv.Close()
	b := submit(t, srv.URL, jsonl(8))
	url := srv.URL + "/batches/" + b["id"].(string)
	steps := []struct {
		at   time.Duration
		want string
	}{
		{5 * time.Second, "validating 0/0/0"},
		{10 * time.Second, "in_progress 8/0/0"},
		{50 * time.Second, "in_progress 8/4/0"},
		{90 * time.Second, "finalizing 8/8/0"},
		{95 * time.Second, "finalizing 8/8/0"},
		{100 * time.Second, "completed 8/8/0"},
		{time.Hour, "completed 8/8/0"},
	}
	for _, st := range steps {
		clk.set(st.at)
		_, b = jsonDo(t, "GET", url, nil)
		if got := counts(b); got != st.want {
			t.Errorf("at %v: %s, want %s", st.at, got, st.want)
		}
	}
	if b["in_progress_at"] == nil || b["finalizing_at"] == nil || b["completed_at"] == nil || b["error_file_id"] != nil {
		t.Errorf("timestamps and files: %v", b)
	}
	out := fileLines(t, srv.URL, b["output_file_id"])
	if len(out) != 8 {
		t.Fatalf("%d output lines", len(out))
	}
	// Each line holds the answer the chat endpoint gives to the same body.
	for _, l := range out {
		_, m := post(t, srv.URL, "", chat("m", "You are a professor.", "Question: What is test "+strings.TrimPrefix(l["custom_id"].(string), "r")+"?"))
		resp := l["response"].(map[string]any)
		if resp["status_code"].(float64) != 200 || fmt.Sprint(resp["body"]) != fmt.Sprint(m) {
			t.Errorf("%v: batch %v\ninteractive %v", l["custom_id"], resp["body"], m)
		}
	}
	st := srv.Stats()
	if st.Batches != 1 || st.Files != 1 || st.BatchAnswered != 8 || st.BatchFailed != 0 || st.Interactive != 8 || st.Generation != 16 {
		t.Errorf("stats %+v", st)
	}
}

func TestBatchInputProblems(t *testing.T) {
	good := line("a", "m", "Question: x?")
	tests := []struct {
		name     string
		data     string
		wantCode string
		wantLine int
	}{
		{"not JSON", good + "\n{nope\n", "invalid_json_line", 2},
		{"duplicate custom_id", good + "\n" + good + "\n", "duplicate_custom_id", 2},
		{"no custom_id", `{"method":"POST","url":"/v1/chat/completions","body":{}}`, "missing_required_parameter", 1},
		{"wrong url", strings.Replace(good, "/v1/chat/completions", "/v1/embeddings", 1), "url_mismatch", 1},
		{"GET", strings.Replace(good, `"POST"`, `"GET"`, 1), "invalid_method", 1},
		{"two models", good + "\n" + line("b", "other", "Question: y?"), "model_mismatch", 2},
		{"empty", "", "empty_file", 1},
		{"too many", string(jsonl(4)), "too_many_tasks", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := Start("127.0.0.1:0", Options{BatchMaxRequests: 3})
			defer srv.Close()
			b := submit(t, srv.URL, []byte(tc.data))
			_, b = jsonDo(t, "GET", srv.URL+"/batches/"+b["id"].(string), nil)
			if b["status"] != "failed" || b["failed_at"] == nil {
				t.Fatalf("status %v", b)
			}
			errs := b["errors"].(map[string]any)["data"].([]any)
			e := errs[0].(map[string]any)
			if e["code"] != tc.wantCode || e["line"].(float64) != float64(tc.wantLine) || e["message"] == "" {
				t.Errorf("errors %v", errs)
			}
			if srv.Stats().BatchAnswered != 0 {
				t.Error("a failed batch answered requests")
			}
		})
	}
}

func TestBatchUploadRefused(t *testing.T) {
	srv, _ := Start("127.0.0.1:0", Options{BatchMaxBytes: 100, APIKey: "sk-batch-0000"})
	defer srv.Close()
	code, _ := upload(t, srv.URL, "in.jsonl", "batch", []byte("x"))
	if code != 401 {
		t.Errorf("no key: %d", code)
	}
	srv2, _ := Start("127.0.0.1:0", Options{BatchMaxBytes: 100})
	defer srv2.Close()
	tests := []struct {
		name, file, purpose string
		data                []byte
		want                string
	}{
		{"not .jsonl", "in.txt", "batch", []byte("{}"), "Must be .jsonl"},
		{"purpose", "in.jsonl", "fine-tune", []byte("{}"), "purpose"},
		{"too large", "in.jsonl", "batch", bytes.Repeat([]byte("x"), 101), "too large"},
	}
	for _, tc := range tests {
		code, m := upload(t, srv2.URL, tc.file, tc.purpose, tc.data)
		if code != 400 || !strings.Contains(fmt.Sprint(m["error"]), tc.want) {
			t.Errorf("%s: %d %v", tc.name, code, m)
		}
	}
	code, m := jsonDo(t, "POST", srv2.URL+"/batches", map[string]any{"input_file_id": "file-nope", "endpoint": "/v1/chat/completions", "completion_window": "24h"})
	if code != 404 {
		t.Errorf("unknown file: %d %v", code, m)
	}
	code, _ = jsonDo(t, "GET", srv2.URL+"/batches/batch_nope", nil)
	if code != 404 {
		t.Errorf("unknown batch: %d", code)
	}
}

func TestBatchFailuresExpiryCancel(t *testing.T) {
	t.Run("fail rate", func(t *testing.T) {
		srv, _ := Start("127.0.0.1:0", Options{BatchFailRate: 0.5, Seed: 3})
		defer srv.Close()
		b := submit(t, srv.URL, jsonl(40))
		_, b = jsonDo(t, "GET", srv.URL+"/batches/"+b["id"].(string), nil)
		errs := fileLines(t, srv.URL, b["error_file_id"])
		out := fileLines(t, srv.URL, b["output_file_id"])
		if len(errs) == 0 || len(out) == 0 || len(errs)+len(out) != 40 || counts(b) != fmt.Sprintf("completed 40/%d/%d", len(out), len(errs)) {
			t.Fatalf("%s: %d answers, %d errors", counts(b), len(out), len(errs))
		}
		codes := map[float64]int{}
		for _, e := range errs {
			codes[e["response"].(map[string]any)["status_code"].(float64)]++
		}
		if codes[500] == 0 || codes[429] == 0 {
			t.Errorf("error statuses %v", codes)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		srv, _ := Start("127.0.0.1:0", Options{BatchExpireRate: 1})
		defer srv.Close()
		b := submit(t, srv.URL, jsonl(5))
		_, b = jsonDo(t, "GET", srv.URL+"/batches/"+b["id"].(string), nil)
		if counts(b) != "expired 5/2/3" || b["expired_at"] == nil {
			t.Fatalf("%s", counts(b))
		}
		for _, e := range fileLines(t, srv.URL, b["error_file_id"]) {
			if e["error"].(map[string]any)["code"] != "batch_expired" || e["response"] != nil {
				t.Errorf("error line %v", e)
			}
		}
	})
	t.Run("cancel", func(t *testing.T) {
		clk := newClock()
		srv, _ := Start("127.0.0.1:0", Options{BatchDelay: 100 * time.Second, Clock: clk.now})
		defer srv.Close()
		b := submit(t, srv.URL, jsonl(8))
		url := srv.URL + "/batches/" + b["id"].(string)
		clk.set(30 * time.Second)
		_, b = jsonDo(t, "POST", url+"/cancel", nil)
		if counts(b) != "cancelling 8/2/0" {
			t.Errorf("%s", counts(b))
		}
		clk.set(time.Hour)
		_, b = jsonDo(t, "GET", url, nil)
		if counts(b) != "cancelled 8/2/6" || b["cancelled_at"] == nil {
			t.Errorf("%s", counts(b))
		}
		if code, _ := jsonDo(t, "POST", url+"/cancel", nil); code != 400 {
			t.Errorf("cancelling a cancelled batch: %d", code)
		}
		for _, e := range fileLines(t, srv.URL, b["error_file_id"]) {
			if e["error"].(map[string]any)["code"] != "batch_cancelled" {
				t.Errorf("error line %v", e)
			}
		}
	})
}

// However many clients poll at once, every request is answered once.
func TestBatchAnsweredOnce(t *testing.T) {
	srv, _ := Start("127.0.0.1:0", Options{BatchDelay: 50 * time.Millisecond})
	defer srv.Close()
	b := submit(t, srv.URL, jsonl(30))
	url := srv.URL + "/batches/" + b["id"].(string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for { // t.Fatal is for the test's goroutine
				resp, err := http.Get(url)
				if err != nil {
					t.Error(err)
					return
				}
				var b map[string]any
				json.NewDecoder(resp.Body).Decode(&b)
				resp.Body.Close()
				if b["status"] == "completed" {
					return
				}
				if resp, err := http.Get(srv.URL + "/batches?limit=5"); err == nil {
					resp.Body.Close()
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if st := srv.Stats(); st.BatchAnswered != 30 || st.Generation != 30 {
		t.Errorf("stats %+v", st)
	}
}
