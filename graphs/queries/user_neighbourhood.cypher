// A user's neighbourhood: everything one hop from the user (interactions, attributes,
// recommendations), and for items the entities they link to.
// Parameters: $user (user id), $limit (rows, e.g. 50).
MATCH (u:User {id: $user})-[r]-(n)
OPTIONAL MATCH (n:Item)-[a]->(e:Entity)
WITH r, n, collect(DISTINCT type(a) + ': ' + e.id) AS links
RETURN type(r) AS relation,
       startNode(r) = n AS incoming,
       labels(n)[0] AS label,
       n.id AS id,
       n.text AS text,
       r.scenario AS scenario,
       r.rank AS rank,
       links
ORDER BY relation, coalesce(rank, 0), id
LIMIT $limit
