// Cold items (no INTERACTED relationship yet) and their nearest items by the vectors that
// write-back stored, through the item vector index (Neo4jStore.vector_index_name('Item',
// 'embedding') = 'item_embedding_vector'). Scores are (1 + cosine) / 2.
// Parameters: $index (e.g. 'item_embedding_vector'), $k (neighbours per item), $limit (cold items).
MATCH (c:Item)
WHERE NOT (c)<-[:INTERACTED]-() AND c.embedding IS NOT NULL
WITH c ORDER BY c.id LIMIT $limit
CALL db.index.vector.queryNodes($index, $k + 1, c.embedding) YIELD node, score
WITH c, node, score WHERE node <> c
WITH c, node, score ORDER BY score DESC
RETURN c.id AS cold_item, c.text AS text,
       collect({id: node.id, score: score, interactions: COUNT { (node)<-[:INTERACTED]-() }})[..$k] AS neighbours
ORDER BY cold_item
