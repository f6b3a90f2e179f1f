package store

// dialect holds the few pieces of SQL that SQLite and PostgreSQL write
// differently. Everything else is written once, in the subset both
// understand (ON CONFLICT upserts, FILTER clauses, RETURNING, booleans
// compared with TRUE and FALSE), with ? placeholders (rebind numbers them
// for PostgreSQL).
type dialect struct {
	name string
	// like matches text ignoring the case of ASCII letters.
	like string
	// voteCount is the number of calls behind a feedback row f (its votes,
	// a JSON array, or 1).
	voteCount string
	// aliases lists the aliases of a prompt version v, comma-separated.
	aliases string
	// newestFirst orders prompt versions v of one name, the newest first.
	newestFirst string
	// agentHistory is AgentHistory's query.
	agentHistory string
}

var sqliteDialect = &dialect{
	name:        "sqlite",
	like:        "LIKE",
	voteCount:   `CASE WHEN votes = '' THEN 1 ELSE MAX(1, json_array_length(votes)) END`,
	aliases:     `(SELECT group_concat(a.alias, ',') FROM prompt_aliases a WHERE a.name = v.name AND a.version = v.version)`,
	newestFirst: `v.created_at DESC, v.rowid DESC`, // the later insert first when the clock did not move
	agentHistory: `WITH agents AS (
			SELECT DISTINCT r.id AS run_id, json_extract(v.value, '$.id') AS variant
			FROM runs r, json_each(r.spec, '$.layout.variants') v
			WHERE json_type(v.value, '$.agent') = 'object')
		SELECT c.variant, c.model, COUNT(*),
			SUM((SELECT COUNT(*) FROM json_each(c.steps) s WHERE json_extract(s.value, '$.kind') = 'generation')),
			SUM((SELECT COUNT(*) FROM json_each(c.steps) s WHERE json_extract(s.value, '$.kind') = 'tool')),
			SUM((SELECT TOTAL(length(CAST(json_extract(s.value, '$.output') AS BLOB))) FROM json_each(c.steps) s
				WHERE json_extract(s.value, '$.kind') = 'tool'))
		FROM cells c JOIN agents a ON a.run_id = c.run_id AND a.variant = c.variant
		WHERE c.steps <> ''
		GROUP BY c.variant, c.model`,
}

var postgresDialect = &dialect{
	name:        "postgres",
	like:        "ILIKE",
	voteCount:   `CASE WHEN votes = '' THEN 1 ELSE GREATEST(1, json_array_length(votes::json)) END`,
	aliases:     `(SELECT string_agg(a.alias, ',' ORDER BY a.alias) FROM prompt_aliases a WHERE a.name = v.name AND a.version = v.version)`,
	newestFirst: `v.created_at DESC, v.seq DESC`,
	agentHistory: `WITH agents AS (
			SELECT DISTINCT r.id AS run_id, v->>'id' AS variant
			FROM runs r, jsonb_array_elements(r.spec::jsonb->'layout'->'variants') v
			WHERE jsonb_typeof(v->'agent') = 'object')
		SELECT c.variant, c.model, COUNT(*),
			SUM((SELECT COUNT(*) FROM jsonb_array_elements(c.steps::jsonb) s WHERE s->>'kind' = 'generation')),
			SUM((SELECT COUNT(*) FROM jsonb_array_elements(c.steps::jsonb) s WHERE s->>'kind' = 'tool')),
			SUM((SELECT coalesce(SUM(octet_length(s->>'output')), 0) FROM jsonb_array_elements(c.steps::jsonb) s
				WHERE s->>'kind' = 'tool'))
		FROM cells c JOIN agents a ON a.run_id = c.run_id AND a.variant = c.variant
		WHERE c.steps <> '' AND c.steps <> 'null'
		GROUP BY c.variant, c.model`,
}
