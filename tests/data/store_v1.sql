-- The review store as schema version 1 created it (before tenants), for the migration test.
CREATE TABLE schema_version (
	version INTEGER NOT NULL
);
CREATE TABLE api_keys (
	id INTEGER NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (key_hash)
);
CREATE TABLE questions (
	id INTEGER NOT NULL, 
	text TEXT NOT NULL, 
	asker VARCHAR(200), 
	group_name VARCHAR(200), 
	context TEXT, 
	module VARCHAR(50) NOT NULL, 
	urgency VARCHAR(5) NOT NULL, 
	module_confidence FLOAT NOT NULL, 
	urgency_confidence FLOAT NOT NULL, 
	cues TEXT NOT NULL, 
	abstained BOOLEAN NOT NULL, 
	build_id VARCHAR(100), 
	key_id INTEGER, 
	status VARCHAR(20) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(key_id) REFERENCES api_keys (id)
);
CREATE TABLE suggestions (
	id INTEGER NOT NULL, 
	question_id INTEGER NOT NULL, 
	rank INTEGER NOT NULL, 
	score FLOAT NOT NULL, 
	draft TEXT NOT NULL, 
	source_type VARCHAR(10) NOT NULL, 
	source_id VARCHAR(500) NOT NULL, 
	uri VARCHAR(1000) NOT NULL, 
	url VARCHAR(1000), 
	title TEXT NOT NULL, 
	excerpt TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(question_id) REFERENCES questions (id)
);
CREATE INDEX ix_suggestions_question_id ON suggestions (question_id);
CREATE TABLE reviews (
	id INTEGER NOT NULL, 
	question_id INTEGER NOT NULL, 
	suggestion_rank INTEGER, 
	decision VARCHAR(10) NOT NULL, 
	edited_answer TEXT, 
	note TEXT, 
	reviewer VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(question_id) REFERENCES questions (id)
);
CREATE INDEX ix_reviews_question_id ON reviews (question_id);
CREATE TABLE learned_faq (
	id INTEGER NOT NULL, 
	review_id INTEGER NOT NULL, 
	question_id INTEGER NOT NULL, 
	kind VARCHAR(10) NOT NULL, 
	faq_id VARCHAR(200) NOT NULL, 
	question TEXT NOT NULL, 
	answer TEXT, 
	module VARCHAR(50), 
	origin_uri VARCHAR(1000), 
	reviewer VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(review_id) REFERENCES reviews (id), 
	FOREIGN KEY(question_id) REFERENCES questions (id)
);
INSERT INTO schema_version (version) VALUES (1);
