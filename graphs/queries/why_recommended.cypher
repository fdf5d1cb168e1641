// Why was $item recommended to $user? The RECOMMENDED relationship of $model (score, rank)
// and the graph paths that tie them, strongest first:
//   content:       user -INTERACTED-> item -REL-> entity <-REL- recommended item
//   collaborative: user -INTERACTED-> item <-INTERACTED- other user -INTERACTED-> recommended item
// A content path is stronger when the shared entity is rarer (1 / number of items linking to it);
// a collaborative path is stronger when the other user has fewer interactions.
// Parameters: $user, $item, $model (e.g. 'kg_recsys'), $limit (paths, e.g. 10).
MATCH (u:User {id: $user}), (target:Item {id: $item})
OPTIONAL MATCH (u)-[rec:RECOMMENDED {model: $model}]->(target)
CALL (u, target) {
    MATCH p = (u)-[:INTERACTED]->(h:Item)-[r1]->(e:Entity)<-[r2]-(target)
    WHERE h <> target AND type(r1) = type(r2)
    RETURN p, 'content' AS kind, 1.0 / COUNT { (e)<-[]-(:Item) } AS strength
  UNION
    MATCH p = (u)-[:INTERACTED]->(h:Item)<-[:INTERACTED]-(o:User)-[:INTERACTED]->(target)
    WHERE h <> target AND o <> u
    RETURN p, 'collaborative' AS kind, 1.0 / COUNT { (o)-[:INTERACTED]->() } AS strength
}
WITH rec, kind, strength, [n IN nodes(p) | labels(n)[0] + ':' + n.id] AS nodes,
     [r IN relationships(p) | type(r)] AS relations
RETURN DISTINCT rec.rank AS rank, rec.score AS score, kind, strength, nodes, relations
ORDER BY strength DESC, kind, nodes
LIMIT $limit
