package backend

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the Store on the example's table `text` (id serial, text varchar(100) UNIQUE).
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres connects lazily, like SQLAlchemy: the app starts (and /healthy answers) before the
// database is reachable.
func NewPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	return &Postgres{pool: pool}, nil
}

// Close releases the connections.
func (p *Postgres) Close() { p.pool.Close() }

// Texts implements Store.
func (p *Postgres) Texts(ctx context.Context) ([]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT text FROM text ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("select texts: %w", err)
	}
	defer rows.Close()
	texts := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("scan text: %w", err)
		}
		texts = append(texts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select texts: %w", err)
	}
	return texts, nil
}

// Add implements Store.
func (p *Postgres) Add(ctx context.Context, text string) error {
	if _, err := p.pool.Exec(ctx, `INSERT INTO text (text) VALUES ($1)`, text); err != nil {
		return fmt.Errorf("insert text: %w", err)
	}
	return nil
}

// DeleteAll implements Store.
func (p *Postgres) DeleteAll(ctx context.Context) error {
	if _, err := p.pool.Exec(ctx, `DELETE FROM text`); err != nil {
		return fmt.Errorf("delete texts: %w", err)
	}
	return nil
}
