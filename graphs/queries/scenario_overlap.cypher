// Users active in both scenario $a and scenario $b (e.g. 'books' and 'movies'): the bridge
// that cross-scenario recommendation learns from, with their interaction counts per scenario.
// Parameters: $a, $b (scenario names), $limit (users).
MATCH (u:User)-[r:INTERACTED]->(:Item)
WHERE r.scenario IN [$a, $b]
WITH u, sum(CASE r.scenario WHEN $a THEN 1 ELSE 0 END) AS in_a,
        sum(CASE r.scenario WHEN $b THEN 1 ELSE 0 END) AS in_b
WHERE in_a > 0 AND in_b > 0
RETURN u.id AS user, in_a, in_b, u.text AS text
ORDER BY in_a + in_b DESC, user
LIMIT $limit
