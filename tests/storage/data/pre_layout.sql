BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('v3.2.0.a');
CREATE TABLE studies (
	study_id INTEGER NOT NULL, 
	study_name VARCHAR(512) NOT NULL, 
	PRIMARY KEY (study_id)
);
INSERT INTO "studies" VALUES(1,'fake_space');
CREATE TABLE study_directions (
	study_direction_id INTEGER NOT NULL, 
	direction VARCHAR(8) NOT NULL, 
	study_id INTEGER NOT NULL, 
	objective INTEGER NOT NULL, 
	PRIMARY KEY (study_direction_id), 
	UNIQUE (study_id, objective), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
INSERT INTO "study_directions" VALUES(1,'MAXIMIZE',1,0);
CREATE TABLE study_system_attributes (
	study_system_attribute_id INTEGER NOT NULL, 
	study_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (study_system_attribute_id), 
	UNIQUE (study_id, "key"), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
CREATE TABLE study_user_attributes (
	study_user_attribute_id INTEGER NOT NULL, 
	study_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (study_user_attribute_id), 
	UNIQUE (study_id, "key"), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
INSERT INTO "study_user_attributes" VALUES(1,1,'n_trials','3');
INSERT INTO "study_user_attributes" VALUES(2,1,'timeout','null');
INSERT INTO "study_user_attributes" VALUES(3,1,'sampler','"tpe"');
INSERT INTO "study_user_attributes" VALUES(4,1,'pruner','"epoch_behind"');
INSERT INTO "study_user_attributes" VALUES(5,1,'seed','5');
INSERT INTO "study_user_attributes" VALUES(6,1,'max_epochs','3');
INSERT INTO "study_user_attributes" VALUES(7,1,'patience','3');
INSERT INTO "study_user_attributes" VALUES(8,1,'max_consecutive_failures','5');
INSERT INTO "study_user_attributes" VALUES(9,1,'enqueued','0');
INSERT INTO "study_user_attributes" VALUES(10,1,'starting_points','true');
INSERT INTO "study_user_attributes" VALUES(11,1,'warm_start','null');
INSERT INTO "study_user_attributes" VALUES(12,1,'engine','"optuna"');
INSERT INTO "study_user_attributes" VALUES(13,1,'tensorboard','false');
INSERT INTO "study_user_attributes" VALUES(14,1,'heartbeat','60');
INSERT INTO "study_user_attributes" VALUES(15,1,'workers','null');
INSERT INTO "study_user_attributes" VALUES(16,1,'trials_per_process','null');
INSERT INTO "study_user_attributes" VALUES(17,1,'memory_growth','0.1');
INSERT INTO "study_user_attributes" VALUES(18,1,'space','"fake_space"');
INSERT INTO "study_user_attributes" VALUES(19,1,'objective','"val_accuracy"');
INSERT INTO "study_user_attributes" VALUES(20,1,'direction','"maximize"');
INSERT INTO "study_user_attributes" VALUES(21,1,'params','["optimizer", "learning_rate", "lr_schedule", "batch_size", "clipping", "x"]');
CREATE TABLE trial_heartbeats (
	trial_heartbeat_id INTEGER NOT NULL, 
	trial_id INTEGER NOT NULL, 
	heartbeat DATETIME NOT NULL, 
	PRIMARY KEY (trial_heartbeat_id), 
	UNIQUE (trial_id), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_heartbeats" VALUES(1,1,'2026-12-05 17:50:29');
INSERT INTO "trial_heartbeats" VALUES(2,2,'2026-12-05 17:50:29');
INSERT INTO "trial_heartbeats" VALUES(3,3,'2026-12-05 17:50:29');
CREATE TABLE trial_intermediate_values (
	trial_intermediate_value_id INTEGER NOT NULL, 
	trial_id INTEGER NOT NULL, 
	step INTEGER NOT NULL, 
	intermediate_value FLOAT, 
	intermediate_value_type VARCHAR(7) NOT NULL, 
	PRIMARY KEY (trial_intermediate_value_id), 
	UNIQUE (trial_id, step), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_intermediate_values" VALUES(1,1,1,0.5,'FINITE');
INSERT INTO "trial_intermediate_values" VALUES(2,1,2,0.5,'FINITE');
INSERT INTO "trial_intermediate_values" VALUES(3,1,3,0.5,'FINITE');
INSERT INTO "trial_intermediate_values" VALUES(4,2,1,2.21993171089739482759e-01,'FINITE');
INSERT INTO "trial_intermediate_values" VALUES(5,2,2,2.21993171089739482759e-01,'FINITE');
INSERT INTO "trial_intermediate_values" VALUES(6,2,3,2.21993171089739482759e-01,'FINITE');
INSERT INTO "trial_intermediate_values" VALUES(7,3,1,8.707323061773764028e-01,'FINITE');
INSERT INTO "trial_intermediate_values" VALUES(8,3,2,8.707323061773764028e-01,'FINITE');
INSERT INTO "trial_intermediate_values" VALUES(9,3,3,8.707323061773764028e-01,'FINITE');
CREATE TABLE trial_params (
	param_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	param_name VARCHAR(512), 
	param_value FLOAT, 
	distribution_json TEXT, 
	PRIMARY KEY (param_id), 
	UNIQUE (trial_id, param_name), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_params" VALUES(1,1,'x',0.5,'{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.0, "high": 1.0, "log": false}}');
INSERT INTO "trial_params" VALUES(2,2,'x',2.21993171089739482759e-01,'{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.0, "high": 1.0, "log": false}}');
INSERT INTO "trial_params" VALUES(3,3,'x',8.707323061773764028e-01,'{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.0, "high": 1.0, "log": false}}');
CREATE TABLE trial_system_attributes (
	trial_system_attribute_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (trial_system_attribute_id), 
	UNIQUE (trial_id, "key"), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_system_attributes" VALUES(1,1,'fixed_params','{"optimizer": "adam", "learning_rate": 0.001, "lr_schedule": "constant", "batch_size": 8, "clipping": "none", "x": 0.5}');
CREATE TABLE trial_user_attributes (
	trial_user_attribute_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (trial_user_attribute_id), 
	UNIQUE (trial_id, "key"), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_user_attributes" VALUES(1,1,'worker','{"host": "old-host", "pid": 2575, "created": 1796493028.4, "worker": 0, "device": "this process", "sampler_seed": null}');
INSERT INTO "trial_user_attributes" VALUES(2,1,'keras_loaded','false');
INSERT INTO "trial_user_attributes" VALUES(3,2,'worker','{"host": "old-host", "pid": 2575, "created": 1796493028.4, "worker": 0, "device": "this process", "sampler_seed": null}');
INSERT INTO "trial_user_attributes" VALUES(4,2,'keras_loaded','false');
INSERT INTO "trial_user_attributes" VALUES(5,3,'worker','{"host": "old-host", "pid": 2575, "created": 1796493028.4, "worker": 0, "device": "this process", "sampler_seed": null}');
INSERT INTO "trial_user_attributes" VALUES(6,3,'keras_loaded','false');
CREATE TABLE trial_values (
	trial_value_id INTEGER NOT NULL, 
	trial_id INTEGER NOT NULL, 
	objective INTEGER NOT NULL, 
	value FLOAT, 
	value_type VARCHAR(7) NOT NULL, 
	PRIMARY KEY (trial_value_id), 
	UNIQUE (trial_id, objective), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_values" VALUES(1,1,0,0.5,'FINITE');
INSERT INTO "trial_values" VALUES(2,2,0,2.21993171089739482759e-01,'FINITE');
INSERT INTO "trial_values" VALUES(3,3,0,8.707323061773764028e-01,'FINITE');
CREATE TABLE trials (
	trial_id INTEGER NOT NULL, 
	number INTEGER, 
	study_id INTEGER, 
	state VARCHAR(8) NOT NULL, 
	datetime_start DATETIME, 
	datetime_complete DATETIME, 
	PRIMARY KEY (trial_id), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
INSERT INTO "trials" VALUES(1,0,1,'COMPLETE','2026-12-05 17:50:29.910895','2026-12-05 17:50:29.940279');
INSERT INTO "trials" VALUES(2,1,1,'COMPLETE','2026-12-05 17:50:29.950644','2026-12-05 17:50:29.974660');
INSERT INTO "trials" VALUES(3,2,1,'COMPLETE','2026-12-05 17:50:29.982783','2026-12-05 17:50:30.005553');
CREATE TABLE version_info (
	version_info_id INTEGER NOT NULL, 
	schema_version INTEGER, 
	library_version VARCHAR(256), 
	PRIMARY KEY (version_info_id), 
	CHECK (version_info_id=1)
);
INSERT INTO "version_info" VALUES(1,12,'5.1.0');
CREATE UNIQUE INDEX ix_studies_study_name ON studies (study_name);
CREATE INDEX ix_trials_study_id ON trials (study_id);
COMMIT;
