package providers

import "testing"

func TestOllamaURL(t *testing.T) {
	for in, want := range map[string]string{
		"": "http://localhost:11434/v1", "0.0.0.0:11434": "http://localhost:11434/v1",
		"http://gpu-box:8080/": "http://gpu-box:8080/v1", "https://o.example": "https://o.example/v1",
	} {
		if got := ollamaURL(in); got != want {
			t.Errorf("ollamaURL(%q) = %q, want %q", in, got, want)
		}
	}
}
