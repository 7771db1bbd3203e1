package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/framework-m/framework-m/core/doctype"
)

// migrationLockClass is the first key of the PostgreSQL advisory lock held
// while migrating, so instances starting together do not race to create
// the same tables; the second is the schema's hash, so deployments (or
// tests) in other schemas of one database never wait for each other.
const migrationLockClass = 721_043_390

// Migrate creates or alters the table of every registered DocType, its indexes
// (tenant + modified_at, Meta.Unique and Meta.Indexes) and the series table.
// Columns are added, never dropped.
func (r *Repository) Migrate(ctx context.Context) error {
	if r.postgres {
		// One transaction holding a transaction-scoped advisory lock: instances
		// starting together take turns, and PostgreSQL's DDL is all or nothing.
		return r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?, hashtext(coalesce(current_schema(), '')))", migrationLockClass).Error; err != nil {
				return fmt.Errorf("migrate: take lock: %w", err)
			}
			return r.migrate(tx)
		})
	}
	if err := r.slot.acquire(ctx); err != nil {
		return err
	}
	defer r.slot.release()
	return r.migrate(r.db.WithContext(ctx))
}

func (r *Repository) migrate(gdb *gorm.DB) error {
	if err := gdb.Table(SeriesTable).AutoMigrate(&seriesRow{}); err != nil {
		return fmt.Errorf("migrate %s: %w", SeriesTable, err)
	}
	for _, dt := range r.reg.All() {
		if err := r.migrateDocType(gdb, dt); err != nil {
			return err
		}
	}
	return nil
}

func (r *Repository) migrateDocType(gdb *gorm.DB, dt *doctype.DocType) error {
	if err := gdb.Table(dt.Table).AutoMigrate(dt.NewZero()); err != nil {
		return fmt.Errorf("migrate %s (table %s): %w", dt.Name, dt.Table, err)
	}
	t, err := r.table(dt.Name)
	if err != nil {
		return err
	}
	cols := func(fields []string) ([]string, error) {
		out := []string{"tenant_id"}
		for _, f := range fields {
			c, ok := t.columns[f]
			if !ok {
				return nil, fmt.Errorf("migrate %s: index field %q is not stored", dt.Name, f)
			}
			out = append(out, c)
		}
		return out, nil
	}
	type index struct {
		unique bool
		cols   []string
	}
	// The default order (modified_at, then name) is served by one index scan.
	indexes := []index{{cols: []string{"tenant_id", "modified_at", "name"}}}
	// Row-level security lists filter on the RLS field, then sort by the default order.
	if c, ok := t.columns[dt.RLSField]; ok && needsRLSIndex(dt) {
		indexes = append(indexes, index{cols: []string{"tenant_id", c, "modified_at", "name"}})
	}
	for _, o := range dt.DefaultOrder {
		if c, ok := t.columns[o.Field]; ok && o.Field != doctype.FieldModifiedAt && o.Field != doctype.FieldName {
			indexes = append(indexes, index{cols: []string{"tenant_id", c, "name"}})
		}
	}
	for _, u := range dt.Unique {
		c, err := cols(u)
		if err != nil {
			return err
		}
		indexes = append(indexes, index{unique: true, cols: c})
	}
	for _, u := range dt.Indexes {
		c, err := cols(u)
		if err != nil {
			return err
		}
		// Equality on the fields, then the default order: a filtered list
		// newest first is one index range, neither a scan nor a sort.
		indexes = append(indexes, index{cols: append(c, "modified_at", "name")})
	}
	for _, ix := range indexes {
		kind := "INDEX"
		prefix := "ix"
		if ix.unique {
			kind, prefix = "UNIQUE INDEX", "ux"
		}
		name := indexName(prefix, dt.Table, ix.cols)
		colExprs := make([]any, len(ix.cols))
		placeholders := make([]string, len(ix.cols))
		for i, c := range ix.cols {
			colExprs[i] = clause.Column{Name: c}
			placeholders[i] = "?"
		}
		sql := "CREATE " + kind + " IF NOT EXISTS ? ON ? (" + strings.Join(placeholders, ", ") + ")"
		args := append([]any{clause.Column{Name: name}, clause.Table{Name: dt.Table}}, colExprs...)
		if err := gdb.Exec(sql, args...).Error; err != nil {
			return fmt.Errorf("migrate %s: index %s: %w", dt.Name, name, err)
		}
	}
	return nil
}

// indexName is prefix_table_cols, shortened with a hash to PostgreSQL's 63 bytes.
func indexName(prefix, table string, cols []string) string {
	name := prefix + "_" + table + "_" + strings.Join(cols, "_")
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:54] + "_" + hex.EncodeToString(sum[:4])
}

// needsRLSIndex reports whether lists of dt filter on its RLS field: it was
// named explicitly, or a rule grants only owners.
func needsRLSIndex(dt *doctype.DocType) bool {
	if dt.RLSField != doctype.FieldOwner {
		return true
	}
	for _, r := range dt.Permissions {
		if r.IfOwner {
			return true
		}
	}
	return false
}
