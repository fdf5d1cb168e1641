// Why was $item recommended to $user? The RECOMMENDED relationship of $model (score, rank)
// and the graph paths that tie them, strongest first. The same paths and weights as
// Recommender.explain (kg_recsys/explanations.py), by one definition:
//   content:       (u)-[:INTERACTED]->(h:Item)-[:R]->(e:Entity)<-[:R]-(target)      weight = w(u, h) / k(e)
//   collaborative: (u)-[:INTERACTED]->(h:Item)<-[:INTERACTED]-(o:User)-[:INTERACTED]->(target)
//                                                                                    weight = w(u, h) / k(o)
//   profile:       (u)-[:R1]->(e:Entity)<-[:R2]-(target)                            weight = 1 / k(e)
// with h <> target and o <> u, where w(u, h) is the sum of the weights of u's INTERACTED
// relationships to h, k(e) the number of relationships from items to e, and k(o) the number
// of distinct items o interacted with: a shared neighbour says more the fewer nodes it links
// (the resource-allocation index), scaled by how much the user engaged with h.
// Ties are ordered by kind, then the nodes ('Label:id'), then the relation types.
// Parameters: $user, $item, $model (e.g. 'kg_recsys'), $limit (paths, e.g. 10).
MATCH (u:User {id: $user}), (target:Item {id: $item})
OPTIONAL MATCH (u)-[rec:RECOMMENDED {model: $model}]->(target)
CALL (u, target) {
    MATCH (u)-[x:INTERACTED]->(h:Item)
    WHERE h <> target
    WITH u, target, h, sum(x.weight) AS w
    MATCH (h)-[r1]->(e:Entity)<-[r2]-(target)
    WHERE type(r1) = type(r2)
    RETURN 'content' AS kind, [u, h, e, target] AS path, ['INTERACTED', type(r1), type(r2)] AS relations,
           toFloat(w) / COUNT { (:Item)-->(e) } AS weight
  UNION
    MATCH (u)-[x:INTERACTED]->(h:Item)
    WHERE h <> target
    WITH u, target, h, sum(x.weight) AS w
    MATCH (h)<-[:INTERACTED]-(o:User)-[:INTERACTED]->(target)
    WHERE o <> u
    WITH DISTINCT u, target, h, w, o
    CALL (o) {
        MATCH (o)-[:INTERACTED]->(seen:Item)
        RETURN count(DISTINCT seen) AS k
    }
    RETURN 'collaborative' AS kind, [u, h, o, target] AS path, ['INTERACTED', 'INTERACTED', 'INTERACTED'] AS relations,
           toFloat(w) / k AS weight
  UNION
    MATCH (u)-[r1]->(e:Entity)<-[r2]-(target)
    RETURN 'profile' AS kind, [u, e, target] AS path, [type(r1), type(r2)] AS relations,
           1.0 / COUNT { (:Item)-->(e) } AS weight
}
RETURN rec.rank AS rank, rec.score AS score, kind, weight, [n IN path | labels(n)[0] + ':' + n.id] AS nodes,
       relations
ORDER BY weight DESC, kind, nodes, relations
LIMIT $limit
