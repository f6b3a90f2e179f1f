package datasets

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// DefaultMaxCellBytes is the largest dataset cell accepted unless
// Options.MaxCellBytes says otherwise: 1 MiB.
const DefaultMaxCellBytes = 1 << 20

// Options say how to read a dataset file.
type Options struct {
	// Encoding is the file's character encoding: "" or "utf-8" (the
	// default), or an IANA charset name such as "latin1" (ISO-8859-1),
	// "windows-1252", "shift_jis" or "utf-16le", which is decoded to UTF-8
	// before parsing. Without a declared encoding, bytes that are not UTF-8
	// are an error naming their line and column; with one, a cell holding a
	// byte the encoding does not define (0x81 in windows-1252) is an error.
	Encoding string
	// MaxCellBytes refuses a cell (a CSV field, a JSONL value's text) longer
	// than this many bytes, after decoding. 0 means DefaultMaxCellBytes.
	MaxCellBytes int
	// RepeatedIDs accepts an id column whose values repeat: a file of
	// recorded answers holds a line per question and model, and the lines of
	// one question share its id. Empty ids are still refused.
	RepeatedIDs bool
}

func (o Options) maxCell() int {
	if o.MaxCellBytes > 0 {
		return o.MaxCellBytes
	}
	return DefaultMaxCellBytes
}

// CheckEncoding reports whether name is an encoding Options.Encoding accepts.
func CheckEncoding(name string) error {
	_, err := lookupEncoding(name)
	return err
}

// lookupEncoding returns the decoder of a declared encoding; nil means UTF-8,
// which is validated rather than decoded.
func lookupEncoding(name string) (encoding.Encoding, error) {
	n := strings.TrimSpace(name)
	if n == "" || strings.EqualFold(n, "utf-8") || strings.EqualFold(n, "utf8") {
		return nil, nil
	}
	enc, err := ianaindex.IANA.Encoding(n)
	if err != nil || enc == nil {
		return nil, fmt.Errorf("unknown encoding %q (use utf-8, or an IANA charset name such as latin1, windows-1252, shift_jis or utf-16le)", name)
	}
	if enc == unicode.UTF8 {
		return nil, nil // an alias of UTF-8 ("csUTF8")
	}
	return enc, nil
}

// source is a dataset file being read: its bytes are hashed as they are
// read, decoded from a declared encoding, stripped of a byte-order mark, and
// checked to be UTF-8, keeping count of the line and byte column reached so
// that invalid bytes are reported where they are.
type source struct {
	name string
	raw  io.Reader // the file, through the hash
	h    hash.Hash
	pos  *posReader
	// undefined is set for a declared encoding that has no U+FFFD of its
	// own: a U+FFFD in its decoded text is a byte it does not define.
	undefined string
}

func newSource(name string, r io.Reader, opts Options) (*source, error) {
	enc, err := lookupEncoding(opts.Encoding)
	if err != nil {
		return nil, &FieldError{File: name, Field: "dataset_encoding", Err: err}
	}
	s := &source{name: name, h: sha256.New()}
	s.raw = io.TeeReader(r, s.h)
	text := s.raw
	if enc != nil {
		text = transform.NewReader(text, enc.NewDecoder())
		if _, err := enc.NewEncoder().String("\ufffd"); err != nil {
			s.undefined = opts.Encoding
		}
	}
	br := bufio.NewReaderSize(text, 64<<10)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\ufeff")) {
		br.Discard(3)
	}
	s.pos = &posReader{name: name, r: transform.NewReader(br, encoding.UTF8Validator), line: 1, col: 1}
	return s, nil
}

// Read implements io.Reader over the decoded, validated text.
func (s *source) Read(p []byte) (int, error) { return s.pos.Read(p) }

// hash returns the hex SHA-256 of the file's bytes, reading whatever the
// parser left unread.
func (s *source) hash() string {
	io.Copy(io.Discard, s.raw)
	return hex.EncodeToString(s.h.Sum(nil))
}

// errNotUTF8 is the cause of a *FieldError for bytes that are not UTF-8.
var errNotUTF8 = errors.New("invalid UTF-8 (the column counts bytes): save the file as UTF-8, or declare its encoding with dataset_encoding: in evalctl.yaml (e.g. windows-1252)")

// posReader counts the lines and byte columns of what passes through it and
// turns the UTF-8 validator's error into a *FieldError at the first invalid
// byte.
type posReader struct {
	name      string
	r         io.Reader
	line, col int // of the next byte, 1-based
}

func (p *posReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	chunk := b[:n]
	if nl := bytes.Count(chunk, []byte{'\n'}); nl > 0 {
		p.line += nl
		p.col = n - bytes.LastIndexByte(chunk, '\n')
	} else {
		p.col += n
	}
	if errors.Is(err, encoding.ErrInvalidUTF8) {
		err = &FieldError{File: p.name, Line: p.line, Col: p.col, Err: errNotUTF8}
	}
	return n, err
}

// checkCell refuses a cell over the cap, or one holding a byte its declared
// encoding does not define (decoders turn those into U+FFFD, silently).
func (s *source) checkCell(v string, maxCell int) error {
	if len(v) > maxCell {
		return cellTooBig(len(v), maxCell)
	}
	if s.undefined != "" && strings.Contains(v, "\ufffd") {
		return fmt.Errorf("holds a byte that %s does not define (decoding made it U+FFFD): check dataset_encoding in evalctl.yaml", s.undefined)
	}
	return nil
}

// cellTooBig is the error for a cell over the cap.
func cellTooBig(n, max int) error {
	return fmt.Errorf("cell is %d bytes, over max_cell_bytes %d (raise max_cell_bytes in evalctl.yaml if the data is meant to be this large)", n, max)
}
