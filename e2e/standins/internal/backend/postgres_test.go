package backend

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPostgresStore runs against a real PostgreSQL named by KINDSTACK_TEST_POSTGRES_DSN (e2e/testbed/
// standins.sh sets one up from the postgres stand-in image). The table is created like the
// example's init script.
func TestPostgresStore(t *testing.T) {
	dsn := os.Getenv("KINDSTACK_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KINDSTACK_TEST_POSTGRES_DSN is not set: the postgres store cannot be tested (run e2e/testbed/standins.sh check)")
		}
		t.Skip("SKIPPED LOUDLY: KINDSTACK_TEST_POSTGRES_DSN is not set; the postgres store is not tested against a real database")
	}
	ctx := context.Background()
	store, err := NewPostgres(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	_, err = store.pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS text (\n    id serial PRIMARY KEY,\n    text VARCHAR ( 100 ) UNIQUE NOT NULL\n);")
	require.NoError(t, err)

	require.NoError(t, store.DeleteAll(ctx))
	texts, err := store.Texts(ctx)
	require.NoError(t, err)
	assert.Empty(t, texts)
	require.NoError(t, store.Add(ctx, "one"))
	require.NoError(t, store.Add(ctx, "two"))
	err = store.Add(ctx, "one")
	require.Error(t, err, "UNIQUE column rejects a duplicate")
	assert.Contains(t, err.Error(), "duplicate key")
	texts, err = store.Texts(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"one", "two"}, texts)
	require.NoError(t, store.DeleteAll(ctx))
	texts, err = store.Texts(ctx)
	require.NoError(t, err)
	assert.Empty(t, texts)
}
