// Constraints and indexes of the kg-recsys entity graph (see kg_recsys/schema.py).
// Applied by Neo4jStore.ensure_schema(); every statement is idempotent (IF NOT EXISTS).
// Statements end with a semicolon; lines starting with // are comments.

// One node per id and label: MERGE on (label, id) becomes an index seek.
CREATE CONSTRAINT user_id IF NOT EXISTS FOR (n:User) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT item_id IF NOT EXISTS FOR (n:Item) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE;

// Scenario filters (cross-scenario splits, per-scenario inspection).
CREATE INDEX item_scenario IF NOT EXISTS FOR (n:Item) ON (n.scenario);
CREATE INDEX user_scenario IF NOT EXISTS FOR (n:User) ON (n.scenario);
CREATE INDEX interacted_scenario IF NOT EXISTS FOR ()-[r:INTERACTED]-() ON (r.scenario);

// Model output: delete and list one model's RECOMMENDED relationships.
CREATE INDEX recommended_model IF NOT EXISTS FOR ()-[r:RECOMMENDED]-() ON (r.model);

// Text search over every node with a description, for inspection in Neo4j Browser.
CREATE FULLTEXT INDEX node_text IF NOT EXISTS FOR (n:User|Item|Entity) ON EACH [n.text];
