package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PromptVersion is a stored template version.
type PromptVersion struct {
	Name, Version, Text string
	CreatedAt           time.Time
	Aliases             []string
}

// SavePromptVersion records a template version (idempotent).
func (s *Store) SavePromptVersion(ctx context.Context, name, version, text string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO prompt_versions(name, version, text, created_at) VALUES (?,?,?,?) ON CONFLICT DO NOTHING`,
		name, version, text, time.Now().UnixNano())
	return err
}

// PromptVersions lists the versions of name (all names when empty), newest first.
func (s *Store) PromptVersions(ctx context.Context, name string) ([]PromptVersion, error) {
	q := `SELECT v.name, v.version, v.text, v.created_at,
		coalesce(` + s.dialect.aliases + `, '')
		FROM prompt_versions v`
	args := []any{}
	if name != "" {
		q += ` WHERE v.name = ?`
		args = append(args, name)
	}
	q += ` ORDER BY v.name, ` + s.dialect.newestFirst
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PromptVersion
	for rows.Next() {
		var p PromptVersion
		var created int64
		var aliases string
		if err := rows.Scan(&p.Name, &p.Version, &p.Text, &created, &aliases); err != nil {
			return nil, err
		}
		p.CreatedAt = time.Unix(0, created)
		if aliases != "" {
			p.Aliases = strings.Split(aliases, ",")
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ErrNoPrompt is returned when a prompt reference matches nothing stored.
var ErrNoPrompt = errors.New("no such prompt version")

// PromptVersion resolves "NAME@REF", where REF is a version (or unique
// prefix), an alias, or "latest".
func (s *Store) PromptVersion(ctx context.Context, name, ref string) (*PromptVersion, error) {
	versions, err := s.PromptVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: prompt %q has no stored versions (run it once)", ErrNoPrompt, name)
	}
	if ref == "latest" || ref == "" {
		return &versions[0], nil
	}
	var version string
	err = s.r.QueryRowContext(ctx, `SELECT version FROM prompt_aliases WHERE name = ? AND alias = ?`, name, ref).Scan(&version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if version == "" {
		version = ref
	}
	var found []PromptVersion
	for _, v := range versions {
		if v.Version == version {
			return &v, nil
		}
		if strings.HasPrefix(v.Version, version) {
			found = append(found, v)
		}
	}
	if len(found) == 1 {
		return &found[0], nil
	}
	return nil, fmt.Errorf("%w: %s@%s (versions: %s)", ErrNoPrompt, name, ref, versionList(versions))
}

func versionList(vs []PromptVersion) string {
	var parts []string
	for _, v := range vs {
		s := v.Version
		if len(v.Aliases) > 0 {
			s += " (" + strings.Join(v.Aliases, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// TagPrompt points alias at name@version.
func (s *Store) TagPrompt(ctx context.Context, name, version, alias string) (*PromptVersion, error) {
	if alias == "" || alias == "latest" || strings.ContainsAny(alias, "@, ") {
		return nil, fmt.Errorf("alias %q: use letters, digits, '-' or '_' (not 'latest')", alias)
	}
	v, err := s.PromptVersion(ctx, name, version)
	if err != nil {
		return nil, err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO prompt_aliases(name, alias, version) VALUES (?,?,?) ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version`, name, alias, v.Version)
	return v, err
}
