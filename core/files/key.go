// Package files holds the rules of stored files: storage keys, names,
// allowed types and sizes, and the service behind the file routes (upload,
// download, delete, upload sessions, the sweep of orphaned objects).
package files

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// CheckKey reports whether key is a storage key as ports.Storage defines
// it: slash-separated segments of letters, digits and . _ -, none empty, "."
// or "..", at most ports.MaxStorageKey bytes. Its error is a
// core.ErrValidation naming the problem. Adapters call it first thing.
func CheckKey(key string) error {
	bad := func(why string) error {
		return core.Invalid("key", fmt.Sprintf("storage key %q: %s", truncate(key), why))
	}
	switch {
	case key == "":
		return bad("is empty")
	case len(key) > ports.MaxStorageKey:
		return bad(fmt.Sprintf("is longer than %d bytes", ports.MaxStorageKey))
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return bad("has an empty segment (a leading, trailing or double slash)")
		case ".", "..":
			return bad("has a . or .. segment")
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return bad("may hold only letters, digits, . _ - and /")
			}
		}
	}
	return nil
}

// CheckPrefix is CheckKey for a List prefix: a key followed by "/".
func CheckPrefix(prefix string) error {
	if !strings.HasSuffix(prefix, "/") {
		return core.Invalid("prefix", fmt.Sprintf("storage prefix %q: must end with /", truncate(prefix)))
	}
	return CheckKey(strings.TrimSuffix(prefix, "/"))
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// CheckPart reports whether part n of size bytes may be sent to a multipart
// upload: n from 1 to ports.MaxParts, size not negative. Its error is a
// core.ErrValidation naming the problem. Adapters call it in PutPart.
func CheckPart(n int, size int64) error {
	if n < 1 || n > ports.MaxParts {
		return core.Invalid("part", fmt.Sprintf("part number %d is not between 1 and %d", n, ports.MaxParts))
	}
	if size < 0 {
		return core.Invalid("size", fmt.Sprintf("part size %d is negative", size))
	}
	return nil
}

// Exists reports whether store holds an object under key: Stat, with
// core.ErrNotFound read as false.
func Exists(ctx context.Context, store ports.Storage, key string) (bool, error) {
	_, err := store.Stat(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, core.ErrNotFound):
		return false, nil
	}
	return false, err
}
