// A user's top-K recommendations as written back by `kgrec train` (RECOMMENDED relationships
// of model $model), best first.
// Parameters: $user, $model (e.g. 'kg_recsys'), $k.
MATCH (:User {id: $user})-[r:RECOMMENDED {model: $model}]->(i:Item)
RETURN i.id AS item, r.score AS score, r.rank AS rank, i.scenario AS scenario, i.text AS text, r.at AS at
ORDER BY r.rank
LIMIT $k
