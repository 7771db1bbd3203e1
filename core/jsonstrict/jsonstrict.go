// Package jsonstrict is the one strict reader of client JSON. encoding/json
// accepts an object that names a key twice (the last one wins) and replaces
// invalid UTF-8 and lone surrogate escapes with U+FFFD; a gateway, a log or a
// signature check that reads the same bytes may then see another request than
// the application runs. Check refuses both, naming the field, in one pass over
// the bytes that also validates the JSON grammar.
//
// Keys are compared the way their consumer matches them: Exact (JSON's own
// rule, after unescaping) for documents and maps, where "a" and "A" are two
// fields; Fold for decoding into Go structs, because encoding/json matches
// struct fields ignoring case, so {"username":"a","Username":"b"} would let the
// last one win just like a plain duplicate.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
)

// KeyMatch says when two keys of one object are the same key.
type KeyMatch uint8

const (
	// Exact compares keys byte for byte after unescaping (JSON's rule).
	Exact KeyMatch = iota
	// Fold also treats keys equal under Unicode case folding as the same,
	// as encoding/json does when it matches keys to struct fields.
	Fold
)

// Reasons and the field name used in the *core.ValidationError of Check.
const (
	// ReasonDuplicate is the reason given for a key that appears twice.
	ReasonDuplicate = "appears more than once"
	// ReasonUTF8 is the reason given for a string that is not valid UTF-8.
	ReasonUTF8 = "must be valid UTF-8"
	// ReasonKeyUTF8 is the reason given (on field BodyField) for a key that is
	// not valid UTF-8.
	ReasonKeyUTF8 = "has an object key that is not valid UTF-8"
	// BodyField names the body as a whole: for an invalid key, or a problem
	// in a top-level value that is not an object.
	BodyField = "body"
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// maxProblems bounds the field errors of one body; scanning stops there.
const maxProblems = 20

// linearKeys is how many keys an object may have before duplicates are
// looked up in a map rather than by comparing with each earlier key.
const linearKeys = 16

// ErrNotObject is returned by Object for valid JSON that is not an object.
var ErrNotObject = errors.New("jsonstrict: not a JSON object")

// SyntaxError reports malformed JSON.
type SyntaxError struct {
	// Offset is the byte offset at which the problem was found.
	Offset int
	msg    string
}

// Error describes the problem and where it is.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.msg)
}

// Member is one key and value of a JSON object.
type Member struct {
	// Key is the unescaped key.
	Key string
	// Value is the value's JSON text, a sub-slice of the input.
	Value []byte
}

// Check reports whether data is exactly one JSON value (whitespace around it
// allowed) whose objects name no key twice at any depth and whose strings are
// valid UTF-8 without lone surrogate escapes (\ud800). A duplicate key is a
// *core.ValidationError on the key's path ("lines[2].qty": "appears more than
// once"); invalid UTF-8 names the path of the string holding it, or BodyField
// when it is in a key. Malformed JSON is a *SyntaxError. The problems found
// before the end or the first syntax error are reported (at most twenty);
// only when there are none is a syntax error returned.
func Check(data []byte, m KeyMatch) error {
	s := newScanner(data, m)
	defer s.release()
	return s.run(nil)
}

// Object checks data like Check and returns the members of the object it
// holds, in input order. Valid JSON that is not an object is ErrNotObject.
func Object(data []byte, m KeyMatch) ([]Member, error) {
	s := newScanner(data, m)
	defer s.release()
	if s.skipSpace(); s.pos < len(data) && data[s.pos] != '{' {
		if err := s.run(nil); errors.As(err, new(*SyntaxError)) {
			return nil, err
		}
		return nil, ErrNotObject
	}
	members := make([]Member, 0, 16)
	if err := s.run(&members); err != nil {
		return nil, err
	}
	return members, nil
}

// Unmarshal decodes data into v like encoding/json, after Check with Fold:
// duplicate keys and invalid UTF-8 are a *core.ValidationError, trailing data
// a *SyntaxError, and unknown keys refused (json.Decoder's
// DisallowUnknownFields). For small fixed-shape bodies.
func Unmarshal(data []byte, v any) error {
	if err := Check(data, Fold); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// pathElem is one step of the path to the value being scanned.
type pathElem struct {
	key    []byte // the unescaped key; nil for an array element
	index  int
	badKey bool // the key is not valid UTF-8
}

type scanner struct {
	data []byte
	pos  int
	fold bool
	// keys holds the keys of every open object, innermost last, while they
	// are compared linearly.
	keys     [][]byte
	path     []pathElem
	problems []core.FieldError
	syntax   *SyntaxError
}

// scanners keeps the keys and path stacks between scans, so that checking a
// small body allocates nothing.
var scanners = sync.Pool{New: func() any { return new(scanner) }}

func newScanner(data []byte, m KeyMatch) *scanner {
	s := scanners.Get().(*scanner)
	s.data, s.fold = data, m == Fold
	return s
}

// release returns s to the pool without references into the scanned data,
// and without the stacks of a deeply nested body.
func (s *scanner) release() {
	keys, path := s.keys[:0], s.path[:0]
	if cap(keys) > 256 || cap(path) > 64 {
		keys, path = nil, nil
	}
	clear(keys[:cap(keys)])
	clear(path[:cap(path)])
	*s = scanner{keys: keys, path: path}
	scanners.Put(s)
}

// run scans the whole input; members, when not nil, receives the top-level
// object's members.
func (s *scanner) run(members *[]Member) error {
	s.skipSpace()
	if s.pos == len(s.data) {
		s.fail("unexpected end of JSON input")
	} else if s.value(0, members) {
		s.skipSpace()
		if s.pos < len(s.data) {
			s.fail("invalid character " + quoteChar(s.data[s.pos]) + " after top-level value")
		}
	}
	if len(s.problems) > 0 {
		return &core.ValidationError{Fields: s.problems}
	}
	if s.syntax != nil {
		return s.syntax
	}
	return nil
}

// value scans one value at s.pos; false stops the scan (a syntax error or
// enough problems).
func (s *scanner) value(depth int, members *[]Member) bool {
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of JSON input")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth+1, members)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, _, valid, ok := s.str()
		if ok && !valid {
			return s.problem(s.pathString(), ReasonUTF8)
		}
		return ok
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.fail("invalid character " + quoteChar(c) + " looking for beginning of value")
	}
}

func (s *scanner) object(depth int, members *[]Member) bool {
	if empty, ok := s.open(depth, '}'); empty || !ok {
		return ok
	}
	first := len(s.keys)
	defer func() { s.keys = s.keys[:first] }()
	var seen map[string][]byte // folded or exact key → key as first seen
	for {
		if s.pos >= len(s.data) {
			return s.fail("unexpected end of JSON input")
		}
		if s.data[s.pos] != '"' {
			return s.fail("invalid character " + quoteChar(s.data[s.pos]) + " looking for beginning of object key string")
		}
		start := s.pos
		raw, escaped, valid, ok := s.str()
		if !ok {
			return false
		}
		key := raw
		if !valid {
			if !s.problem(BodyField, ReasonKeyUTF8) {
				return false
			}
		} else if escaped {
			var k string
			_ = json.Unmarshal(s.data[start:s.pos], &k) // valid: just scanned
			key = []byte(k)
		}
		if prev, dup := s.seen(key, first, &seen); dup && valid {
			s.path = append(s.path, pathElem{key: prev})
			more := s.problem(s.pathString(), ReasonDuplicate)
			s.path = s.path[:len(s.path)-1]
			if !more {
				return false
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.fail("unexpected end of JSON input")
		}
		if s.data[s.pos] != ':' {
			return s.fail("invalid character " + quoteChar(s.data[s.pos]) + " after object key")
		}
		s.pos++
		s.skipSpace()
		s.path = append(s.path, pathElem{key: key, badKey: !valid})
		vstart := s.pos
		ok = s.value(depth, nil)
		s.path = s.path[:len(s.path)-1]
		if !ok {
			return false
		}
		if members != nil {
			*members = append(*members, Member{Key: string(key), Value: s.data[vstart:s.pos]})
		}
		if more, ok := s.next('}', "object key:value pair"); !more {
			return ok
		}
	}
}

// seen records key among the keys of the object whose keys start at
// s.keys[first] (or in *m once there are many) and reports the earlier
// spelling when it was there already.
func (s *scanner) seen(key []byte, first int, m *map[string][]byte) ([]byte, bool) {
	if *m == nil {
		for _, k := range s.keys[first:] {
			if bytes.Equal(k, key) || (s.fold && bytes.EqualFold(k, key)) {
				return k, true
			}
		}
		if len(s.keys)-first < linearKeys {
			s.keys = append(s.keys, key)
			return nil, false
		}
		*m = make(map[string][]byte, 2*linearKeys)
		for _, k := range s.keys[first:] {
			(*m)[s.mapKey(k)] = k
		}
		s.keys = s.keys[:first]
	}
	mk := s.mapKey(key)
	if k, ok := (*m)[mk]; ok {
		return k, true
	}
	(*m)[mk] = key
	return nil, false
}

func (s *scanner) mapKey(k []byte) string {
	if !s.fold {
		return string(k)
	}
	return string(foldName(k))
}

func (s *scanner) array(depth int) bool {
	if empty, ok := s.open(depth, ']'); empty || !ok {
		return ok
	}
	for i := 0; ; i++ {
		s.path = append(s.path, pathElem{index: i})
		ok := s.value(depth, nil)
		s.path = s.path[:len(s.path)-1]
		if !ok {
			return false
		}
		if more, ok := s.next(']', "array element"); !more {
			return ok
		}
	}
}

// open steps over the '{' or '[' at s.pos, and over closer when the object
// or array is empty.
func (s *scanner) open(depth int, closer byte) (empty, ok bool) {
	if depth > maxDepth {
		return false, s.fail("exceeded max depth")
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == closer {
		s.pos++
		return true, true
	}
	return false, true
}

// next steps over what follows a member or element: a comma (more follow)
// or closer (the end); anything else is a syntax error.
func (s *scanner) next(closer byte, after string) (more, ok bool) {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return false, s.fail("unexpected end of JSON input")
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		s.skipSpace()
		return true, true
	case closer:
		s.pos++
		return false, true
	}
	return false, s.fail("invalid character " + quoteChar(s.data[s.pos]) + " after " + after)
}

// str scans the string at s.pos. raw is its text between the quotes;
// escaped says it holds an escape; valid is false when it holds invalid
// UTF-8 or a lone surrogate escape; ok is false on a syntax error.
func (s *scanner) str() (raw []byte, escaped, valid, ok bool) {
	d := s.data
	i := s.pos + 1
	valid = true
	for i < len(d) {
		c := d[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			raw = d[s.pos+1 : i]
			s.pos = i + 1
			return raw, escaped, valid, true
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				s.pos = len(d)
				return nil, false, false, s.fail("unexpected end of JSON input")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, okHex := hex4(d, i+2)
				if !okHex {
					s.pos = i
					return nil, false, false, s.fail("invalid escape in string")
				}
				i += 6
				switch {
				case 0xD800 <= r && r < 0xDC00:
					// A high surrogate must be followed by a low one.
					if i+1 < len(d) && d[i] == '\\' && d[i+1] == 'u' {
						if lo, okLo := hex4(d, i+2); okLo && 0xDC00 <= lo && lo < 0xE000 {
							i += 6
							break
						}
					}
					valid = false
				case 0xDC00 <= r && r < 0xE000:
					valid = false
				}
			default:
				s.pos = i
				return nil, false, false, s.fail("invalid escape in string")
			}
		case c < 0x20:
			s.pos = i
			return nil, false, false, s.fail("invalid control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				valid = false
			}
			i += size
		}
	}
	s.pos = len(d)
	return nil, false, false, s.fail("unexpected end of JSON input")
}

// plain marks the bytes that stand for themselves inside a string: ASCII
// but control characters, quote and backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) number() bool {
	d, i := s.data, s.pos
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		i = digits(d, i)
	default:
		s.pos = i
		return s.fail("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			s.pos = j
			return s.fail("invalid number")
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			s.pos = j
			return s.fail("invalid number")
		}
		i = j
	}
	s.pos = i
	return true
}

func digits(d []byte, i int) int {
	for i < len(d) && '0' <= d[i] && d[i] <= '9' {
		i++
	}
	return i
}

func (s *scanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.fail("invalid literal (expected " + word + ")")
	}
	s.pos += len(word)
	return true
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// fail records a syntax error at s.pos and stops the scan.
func (s *scanner) fail(msg string) bool {
	if s.syntax == nil {
		s.syntax = &SyntaxError{Offset: s.pos, msg: msg}
	}
	return false
}

// problem records a field error (once per field and reason); false stops
// the scan when there are enough.
func (s *scanner) problem(field, reason string) bool {
	for _, p := range s.problems {
		if p.Field == field && p.Reason == reason {
			return true
		}
	}
	s.problems = append(s.problems, core.FieldError{Field: field, Reason: reason})
	return len(s.problems) < maxProblems
}

// pathString names the value being scanned: "customer", "lines[2].qty";
// BodyField for the top-level value or under a key that is not valid UTF-8.
func (s *scanner) pathString() string {
	var b strings.Builder
	for _, e := range s.path {
		if e.badKey {
			return BodyField
		}
		if e.key == nil {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(e.key)
	}
	if b.Len() == 0 {
		return BodyField
	}
	return b.String()
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	q := strconv.Quote(string(c))
	return "'" + q[1:len(q)-1] + "'"
}

// foldName returns a key such that foldName(x) == foldName(y) exactly when
// bytes.EqualFold(x, y), as encoding/json folds field names.
func foldName(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

// foldRune returns the smallest rune of r's case-folding orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
