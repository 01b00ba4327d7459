-- registry-sync schema, version 16: where each version runs, and a version's lineage.
--
-- Search(Resource="Model") returns ModelDashboardModel records: a model, its
-- containers (each may name the package it was made from) and the endpoints
-- that host it. Search(Resource="Endpoint") returns endpoints, sorted by
-- LastModifiedTime: between reconciles, the endpoints changed since a cursor
-- say whose models to read again. Four tables per account and region keep
-- what they say (models, their containers, endpoints, and which models each
-- endpoint serves since when), and four views answer the deployment
-- questions. Nothing is ever deleted: a model or endpoint that vanished gets
-- deleted_at, a model an endpoint stopped serving gets ended_at.
--
-- A container's ModelPackageName is a name, a versioned name, a versioned ARN
-- or an ARN of another account; model_package_arn is the mirrored package it
-- designates, NULL until such a package is mirrored.
--
-- Package details gain typed columns for the lineage (MetadataProperties),
-- the validation and image scan statuses, and the containers of the
-- additional inference specifications; rows stored before are filled from
-- their record here.

-- ---------------------------------------------------------------- models
CREATE TABLE sagemaker.models (
    model_arn                 text PRIMARY KEY,
    account_id                text        NOT NULL,
    region                    text        NOT NULL,
    model_name                text        NOT NULL,
    creation_time             timestamptz NOT NULL,
    execution_role_arn        text,
    enable_network_isolation  boolean,
    inference_execution_mode  text,
    tags                      jsonb,
    record                    jsonb       NOT NULL,
    first_seen_at             timestamptz NOT NULL DEFAULT now(),
    last_changed_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at                timestamptz
);
CREATE INDEX models_scope_idx ON sagemaker.models (account_id, region) WHERE deleted_at IS NULL;
CREATE INDEX models_name_idx ON sagemaker.models (model_name);
COMMENT ON TABLE sagemaker.models IS
    'SageMaker models (CreateModel), from Search(Resource="Model"): one row per model ever seen, with deleted_at once gone. Their containers are in model_containers, the endpoints that serve them in endpoint_models.';
COMMENT ON COLUMN sagemaker.models.model_arn IS 'ARN of the model.';
COMMENT ON COLUMN sagemaker.models.account_id IS 'AWS account of the model.';
COMMENT ON COLUMN sagemaker.models.region IS 'AWS region of the model.';
COMMENT ON COLUMN sagemaker.models.model_name IS 'Name of the model.';
COMMENT ON COLUMN sagemaker.models.creation_time IS 'When the model was created.';
COMMENT ON COLUMN sagemaker.models.execution_role_arn IS 'IAM role the model runs with.';
COMMENT ON COLUMN sagemaker.models.enable_network_isolation IS 'Whether its containers run without network access.';
COMMENT ON COLUMN sagemaker.models.inference_execution_mode IS 'InferenceExecutionConfig.Mode of an inference pipeline (Serial or Direct); NULL for one container.';
COMMENT ON COLUMN sagemaker.models.tags IS 'Tags as a JSON object {key: value}; NULL when the record carried no Tags.';
COMMENT ON COLUMN sagemaker.models.record IS 'The ModelDashboardModel record as received (timestamps as epoch seconds; container Environment maps left out, they may hold credentials): the model, the endpoints that host it, its monitoring schedules, last batch transform job and model card.';
COMMENT ON COLUMN sagemaker.models.first_seen_at IS 'When registry-sync first stored the model.';
COMMENT ON COLUMN sagemaker.models.last_changed_at IS 'When registry-sync last stored a changed record.';
COMMENT ON COLUMN sagemaker.models.deleted_at IS 'When a complete read of the account and region no longer found the model; NULL while it exists.';

-- ---------------------------------------------------------------- containers
CREATE TABLE sagemaker.model_containers (
    model_arn                     text        NOT NULL,
    container_position            integer     NOT NULL,
    account_id                    text        NOT NULL,
    region                        text        NOT NULL,
    container_hostname            text,
    image                         text,
    model_data_url                text,
    container_mode                text,
    model_package_name            text,
    inference_specification_name  text,
    model_package_arn             text,
    model_package_account_id      text,
    deleted_at                    timestamptz,
    PRIMARY KEY (model_arn, container_position)
);
CREATE INDEX model_containers_package_idx ON sagemaker.model_containers (model_package_arn);
CREATE INDEX model_containers_unresolved_idx ON sagemaker.model_containers (account_id, region)
    WHERE model_package_arn IS NULL AND model_package_name IS NOT NULL AND deleted_at IS NULL;
COMMENT ON TABLE sagemaker.model_containers IS
    'The containers of each model (PrimaryContainer, or the Containers of an inference pipeline), with the package each was made from, if any. Join models on model_arn, model_packages on model_package_arn.';
COMMENT ON COLUMN sagemaker.model_containers.model_arn IS 'ARN of the model (see models).';
COMMENT ON COLUMN sagemaker.model_containers.container_position IS 'Position of the container in the model: 0 for PrimaryContainer or the first of Containers, then 1, 2, ...';
COMMENT ON COLUMN sagemaker.model_containers.account_id IS 'AWS account of the model.';
COMMENT ON COLUMN sagemaker.model_containers.region IS 'AWS region of the model.';
COMMENT ON COLUMN sagemaker.model_containers.container_hostname IS 'ContainerHostname, when given.';
COMMENT ON COLUMN sagemaker.model_containers.image IS 'Image: the inference image, when given (a container made from a package may name only the package).';
COMMENT ON COLUMN sagemaker.model_containers.model_data_url IS 'ModelDataUrl (or ModelDataSource.S3DataSource.S3Uri): the model artifact, when given.';
COMMENT ON COLUMN sagemaker.model_containers.container_mode IS 'Mode: SingleModel or MultiModel.';
COMMENT ON COLUMN sagemaker.model_containers.model_package_name IS 'ModelPackageName as given to CreateModel: a package name, group/version, a versioned ARN, or an ARN of another account; NULL when the container was not made from a package.';
COMMENT ON COLUMN sagemaker.model_containers.inference_specification_name IS 'InferenceSpecificationName: which of the package''s additional inference specifications the container runs; NULL for its main one.';
COMMENT ON COLUMN sagemaker.model_containers.model_package_arn IS 'ARN of the mirrored package that model_package_name designates (a name is looked up in the model''s own account and region); NULL when the container names no package or no mirrored package matches (e.g. one of an account that is not mirrored). Join model_packages on it.';
COMMENT ON COLUMN sagemaker.model_containers.model_package_account_id IS 'AWS account of the package the container names: the ARN''s account, else the model''s own; NULL when it names none.';
COMMENT ON COLUMN sagemaker.model_containers.deleted_at IS 'When the model''s record no longer had this position (a model created again under its name with fewer containers); NULL while it does.';

-- ---------------------------------------------------------------- endpoints
CREATE TABLE sagemaker.endpoints (
    endpoint_arn          text PRIMARY KEY,
    account_id            text        NOT NULL,
    region                text        NOT NULL,
    endpoint_name         text        NOT NULL,
    endpoint_config_name  text,
    endpoint_status       text,
    failure_reason        text,
    creation_time         timestamptz NOT NULL,
    last_modified_time    timestamptz,
    tags                  jsonb,
    record                jsonb       NOT NULL,
    first_seen_at         timestamptz NOT NULL DEFAULT now(),
    last_changed_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at            timestamptz
);
CREATE INDEX endpoints_scope_idx ON sagemaker.endpoints (account_id, region) WHERE deleted_at IS NULL;
COMMENT ON TABLE sagemaker.endpoints IS
    'SageMaker endpoints, from Search(Resource="Endpoint"): one row per endpoint ever seen, with deleted_at once gone. Which models each one serves is in endpoint_models.';
COMMENT ON COLUMN sagemaker.endpoints.endpoint_arn IS 'ARN of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.account_id IS 'AWS account of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.region IS 'AWS region of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.endpoint_name IS 'Name of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.endpoint_config_name IS 'The endpoint configuration it runs.';
COMMENT ON COLUMN sagemaker.endpoints.endpoint_status IS 'EndpointStatus: InService, Creating, Updating, SystemUpdating, RollingBack, OutOfService, Deleting, Failed or UpdateRollbackFailed.';
COMMENT ON COLUMN sagemaker.endpoints.failure_reason IS 'FailureReason, when the endpoint failed.';
COMMENT ON COLUMN sagemaker.endpoints.creation_time IS 'When the endpoint was created.';
COMMENT ON COLUMN sagemaker.endpoints.last_modified_time IS 'When the endpoint was last modified (an update to another configuration moves it).';
COMMENT ON COLUMN sagemaker.endpoints.tags IS 'Tags as a JSON object {key: value}; NULL when the record carried no Tags.';
COMMENT ON COLUMN sagemaker.endpoints.record IS 'The Endpoint record as received (timestamps as epoch seconds). Its production variants name the images deployed, not the models: those come from the models'' records (endpoint_models).';
COMMENT ON COLUMN sagemaker.endpoints.first_seen_at IS 'When registry-sync first stored the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.last_changed_at IS 'When registry-sync last stored a changed record.';
COMMENT ON COLUMN sagemaker.endpoints.deleted_at IS 'When a complete read of the account and region no longer found the endpoint; NULL while it exists.';

-- ---------------------------------------------------------------- which models each endpoint serves
CREATE TABLE sagemaker.endpoint_models (
    endpoint_model_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id         text        NOT NULL,
    region             text        NOT NULL,
    endpoint_arn       text        NOT NULL,
    endpoint_name      text        NOT NULL,
    model_arn          text        NOT NULL,
    model_name         text        NOT NULL,
    deployed_since     timestamptz,
    first_seen_at      timestamptz NOT NULL DEFAULT now(),
    ended_at           timestamptz
);
CREATE UNIQUE INDEX endpoint_models_live_idx
    ON sagemaker.endpoint_models (endpoint_arn, model_arn) WHERE ended_at IS NULL;
CREATE INDEX endpoint_models_model_idx
    ON sagemaker.endpoint_models (model_arn) WHERE ended_at IS NULL;
CREATE INDEX endpoint_models_endpoint_name_idx
    ON sagemaker.endpoint_models (endpoint_name) WHERE ended_at IS NULL;
COMMENT ON TABLE sagemaker.endpoint_models IS
    'Which models each endpoint serves, from the models'' records (ModelDashboardModel.Endpoints): one row per period, ended_at NULL while it lasts. A model served again later gets a new row.';
COMMENT ON COLUMN sagemaker.endpoint_models.endpoint_model_id IS 'Row identifier.';
COMMENT ON COLUMN sagemaker.endpoint_models.account_id IS 'AWS account of the endpoint and the model.';
COMMENT ON COLUMN sagemaker.endpoint_models.region IS 'AWS region of the endpoint and the model.';
COMMENT ON COLUMN sagemaker.endpoint_models.endpoint_arn IS 'ARN of the endpoint (see endpoints).';
COMMENT ON COLUMN sagemaker.endpoint_models.endpoint_name IS 'Name of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoint_models.model_arn IS 'ARN of the model it serves (see models).';
COMMENT ON COLUMN sagemaker.endpoint_models.model_name IS 'Name of that model.';
COMMENT ON COLUMN sagemaker.endpoint_models.deployed_since IS 'The endpoint''s LastModifiedTime in the first record that showed it serving the model: when it started to, if that happened while the mirror watched (an UpdateEndpoint moves it); for what the mirror found already running, no later than that.';
COMMENT ON COLUMN sagemaker.endpoint_models.first_seen_at IS 'When registry-sync first saw the endpoint serve the model.';
COMMENT ON COLUMN sagemaker.endpoint_models.ended_at IS 'When registry-sync saw it stop: the endpoint moved to other models, or the endpoint or the model is gone; NULL while it serves it.';

-- ---------------------------------------------------------------- progress
CREATE TABLE sagemaker.deployments_state (
    account_id                 text        NOT NULL,
    region                     text        NOT NULL,
    endpoints_cursor           timestamptz,
    last_full_read_started_at  timestamptz,
    last_full_read_at          timestamptz,
    last_read_at               timestamptz,
    last_error                 text,
    last_error_at              timestamptz,
    consecutive_failures       integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, region)
);
COMMENT ON TABLE sagemaker.deployments_state IS
    'Progress of the deployments reads per account and region: the full reads of models and endpoints, and the cursor of the endpoints changed since.';
COMMENT ON COLUMN sagemaker.deployments_state.account_id IS 'AWS account.';
COMMENT ON COLUMN sagemaker.deployments_state.region IS 'AWS region.';
COMMENT ON COLUMN sagemaker.deployments_state.endpoints_cursor IS 'Newest LastModifiedTime of an endpoint read: between full reads, endpoints modified after it (less the lookback) are read, and the models they serve.';
COMMENT ON COLUMN sagemaker.deployments_state.last_full_read_started_at IS 'When the last complete full read (every model and endpoint) started.';
COMMENT ON COLUMN sagemaker.deployments_state.last_full_read_at IS 'When the last complete full read finished; NULL until one has.';
COMMENT ON COLUMN sagemaker.deployments_state.last_read_at IS 'When the last read, full or of the changed endpoints, finished.';
COMMENT ON COLUMN sagemaker.deployments_state.last_error IS 'The last error of a deployments read other than a refusal (refusals are in feature_availability), as stored for readers: its first line, IAM principal ARNs cut, at most 300 characters; NULL after a success.';
COMMENT ON COLUMN sagemaker.deployments_state.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN sagemaker.deployments_state.consecutive_failures IS 'Failed deployments reads since the last success.';

-- ---------------------------------------------------------------- resolving a package reference
CREATE FUNCTION sagemaker.model_package_arn_of(p_reference text, p_model_arn text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
             WHEN p_reference IS NULL THEN NULL
             WHEN p_reference LIKE 'arn:%' THEN lower(p_reference)
             -- A name (unversioned) or group/version, in the model's account and region.
             ELSE split_part(p_model_arn, ':model/', 1) || ':model-package/' || lower(p_reference)
           END
$$;
COMMENT ON FUNCTION sagemaker.model_package_arn_of(text, text) IS
    'registry-sync internal: the package ARN a container''s ModelPackageName designates (SageMaker''s package ARNs are lower case).';

-- ---------------------------------------------------------------- views
CREATE VIEW sagemaker.deployed_model_packages AS
SELECT l.account_id, l.region, l.endpoint_name, l.endpoint_arn, e.endpoint_status,
       l.model_name, l.model_arn, c.container_position,
       c.model_package_name AS model_package_reference, c.model_package_arn,
       c.model_package_account_id, p.model_package_group_name, p.model_package_version,
       p.model_approval_status, p.model_life_cycle_stage,
       p.deleted_at AS model_package_deleted_at, l.deployed_since, l.first_seen_at
  FROM sagemaker.endpoint_models l
  JOIN sagemaker.model_containers c
    ON c.model_arn = l.model_arn AND c.deleted_at IS NULL AND c.model_package_name IS NOT NULL
  LEFT JOIN sagemaker.endpoints e ON e.endpoint_arn = l.endpoint_arn
  LEFT JOIN sagemaker.model_packages p ON p.model_package_arn = c.model_package_arn
 WHERE l.ended_at IS NULL;
COMMENT ON VIEW sagemaker.deployed_model_packages IS
    'What runs where: one row per package a container of a served model was made from, per endpoint serving that model (package version -> model -> endpoint), with the endpoint''s status, the version''s approval status and since when. Package columns are NULL when the package is not mirrored (e.g. of another account).';
COMMENT ON COLUMN sagemaker.deployed_model_packages.account_id IS 'AWS account of the endpoint.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.region IS 'AWS region of the endpoint.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.endpoint_name IS 'The endpoint.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.endpoint_arn IS 'ARN of the endpoint.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.endpoint_status IS 'Its status (InService, Updating, Failed, ...); NULL until its own record is read.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_name IS 'The model it serves.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_arn IS 'ARN of that model.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.container_position IS 'Which container of the model (0 for the first).';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_reference IS 'The container''s ModelPackageName as given.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_arn IS 'ARN of the mirrored package it designates; NULL when not mirrored.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_account_id IS 'AWS account of that package.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_group_name IS 'Group of the package; NULL if unversioned or not mirrored.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_version IS 'Version within the group.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_approval_status IS 'The version''s current approval status.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_life_cycle_stage IS 'The version''s current life-cycle stage, if set.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_deleted_at IS 'When the package was deleted from the registry, if it was (an endpoint may still run it).';
COMMENT ON COLUMN sagemaker.deployed_model_packages.deployed_since IS 'Since when the endpoint serves the model (see endpoint_models.deployed_since).';
COMMENT ON COLUMN sagemaker.deployed_model_packages.first_seen_at IS 'When registry-sync first saw the endpoint serve the model.';

CREATE VIEW sagemaker.unapproved_deployments AS
SELECT d.account_id, d.region, d.endpoint_name, d.endpoint_arn, d.endpoint_status,
       d.model_name, d.model_arn, d.model_package_arn, d.model_package_group_name,
       d.model_package_version, d.model_approval_status, d.model_package_deleted_at,
       d.deployed_since, s.status_since,
       greatest(d.deployed_since, s.status_since) AS not_approved_since
  FROM sagemaker.deployed_model_packages d
  LEFT JOIN LATERAL (
        SELECT max(ch.observed_at) AS status_since
          FROM sagemaker.model_package_changes ch
         WHERE ch.model_package_arn = d.model_package_arn
           AND ch.change_type IN ('created', 'model_approval_status')
       ) s ON true
 WHERE d.model_package_group_name IS NOT NULL
   AND d.model_approval_status IS DISTINCT FROM 'Approved';
COMMENT ON VIEW sagemaker.unapproved_deployments IS
    'Endpoints serving a version that is not Approved (pending, rejected, or with no status), and since when. Only mirrored versions: a package of an account that is not mirrored has no known status.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.account_id IS 'AWS account of the endpoint.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.region IS 'AWS region of the endpoint.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.endpoint_name IS 'The endpoint.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.endpoint_arn IS 'ARN of the endpoint.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.endpoint_status IS 'Its status.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_name IS 'The model it serves.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_arn IS 'ARN of that model.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_package_arn IS 'ARN of the version the model was made from.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_package_group_name IS 'Its group.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_package_version IS 'Its version.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_approval_status IS 'Its approval status: PendingManualApproval, Rejected, or NULL.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_package_deleted_at IS 'When the version was deleted from the registry, if it was.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.deployed_since IS 'Since when the endpoint serves the model.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.status_since IS 'When the mirror first saw the version with its current approval status (its last observed approval change, or when it was first seen).';
COMMENT ON COLUMN sagemaker.unapproved_deployments.not_approved_since IS 'Since when the endpoint serves the version while it is not approved: the later of deployed_since and status_since.';

CREATE VIEW sagemaker.undeployed_approved_model_packages AS
SELECT l.account_id, l.region, l.model_package_group_name, l.model_package_version,
       l.model_package_arn, l.creation_time, d.deployed_versions
  FROM sagemaker.latest_approved_model_packages l
  JOIN sagemaker.deployments_state s
    ON s.account_id = l.account_id AND s.region = l.region AND s.last_full_read_at IS NOT NULL
  -- Every group's served versions at once: one pass over what runs.
  LEFT JOIN (
        SELECT p.account_id, p.region, p.model_package_group_name,
               array_agg(DISTINCT p.model_package_version ORDER BY p.model_package_version)
                   AS deployed_versions
          FROM sagemaker.endpoint_models m
          JOIN sagemaker.model_containers c
            ON c.model_arn = m.model_arn AND c.deleted_at IS NULL
          JOIN sagemaker.model_packages p ON p.model_package_arn = c.model_package_arn
         WHERE m.ended_at IS NULL AND p.model_package_group_name IS NOT NULL
         GROUP BY p.account_id, p.region, p.model_package_group_name
       ) d ON d.account_id = l.account_id AND d.region = l.region
          AND d.model_package_group_name = l.model_package_group_name
 WHERE NOT EXISTS (SELECT 1 FROM sagemaker.model_containers c
                     JOIN sagemaker.endpoint_models m
                       ON m.model_arn = c.model_arn AND m.ended_at IS NULL
                    WHERE c.model_package_arn = l.model_package_arn AND c.deleted_at IS NULL);
COMMENT ON VIEW sagemaker.undeployed_approved_model_packages IS
    'The latest approved version of each group that no endpoint serves, with the versions of the group that endpoints serve instead. Only accounts and regions whose deployments have been read in full.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.account_id IS 'AWS account of the group.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.region IS 'AWS region of the group.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.model_package_group_name IS 'The group.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.model_package_version IS 'Its latest approved version.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.model_package_arn IS 'ARN of that version.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.creation_time IS 'When that version was created.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.deployed_versions IS 'Versions of the same group that endpoints serve now; NULL when none does.';

CREATE VIEW sagemaker.cross_account_deployments AS
SELECT d.account_id, d.region, d.endpoint_name, d.endpoint_arn, d.endpoint_status,
       d.model_name, d.model_arn, d.model_package_reference, d.model_package_account_id,
       d.model_package_arn, d.model_package_group_name, d.model_package_version,
       d.model_approval_status, d.deployed_since
  FROM sagemaker.deployed_model_packages d
 WHERE d.model_package_account_id <> d.account_id;
COMMENT ON VIEW sagemaker.cross_account_deployments IS
    'Endpoints running a package of another account (a model made from a package ARN of that account). Status columns are NULL unless that account is mirrored too.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.account_id IS 'AWS account of the endpoint.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.region IS 'AWS region of the endpoint.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.endpoint_name IS 'The endpoint.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.endpoint_arn IS 'ARN of the endpoint.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.endpoint_status IS 'Its status.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_name IS 'The model it serves.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_arn IS 'ARN of that model.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_reference IS 'The container''s ModelPackageName as given (the other account''s package ARN).';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_account_id IS 'The account the package belongs to.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_arn IS 'ARN of the package if that account is mirrored; else NULL.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_group_name IS 'Its group, if mirrored.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_version IS 'Its version, if mirrored.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_approval_status IS 'Its approval status, if mirrored.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.deployed_since IS 'Since when the endpoint serves the model.';

-- ---------------------------------------------------------------- package details: lineage and statuses
ALTER TABLE sagemaker.model_package_details
    ADD COLUMN generated_by text,
    ADD COLUMN project_id text,
    ADD COLUMN commit_id text,
    ADD COLUMN repository text,
    ADD COLUMN validation_statuses jsonb,
    ADD COLUMN image_scan_statuses jsonb,
    ADD COLUMN additional_image_uris text[] NOT NULL DEFAULT '{}',
    ADD COLUMN additional_model_data_urls text[] NOT NULL DEFAULT '{}';
CREATE INDEX model_package_details_generated_by_idx
    ON sagemaker.model_package_details (generated_by) WHERE generated_by IS NOT NULL;
COMMENT ON COLUMN sagemaker.model_package_details.generated_by IS 'MetadataProperties.GeneratedBy: what produced the version, usually the ARN of a SageMaker pipeline execution.';
COMMENT ON COLUMN sagemaker.model_package_details.project_id IS 'MetadataProperties.ProjectId: the SageMaker project.';
COMMENT ON COLUMN sagemaker.model_package_details.commit_id IS 'MetadataProperties.CommitId: the source commit.';
COMMENT ON COLUMN sagemaker.model_package_details.repository IS 'MetadataProperties.Repository: the source repository.';
COMMENT ON COLUMN sagemaker.model_package_details.validation_statuses IS 'ModelPackageStatusDetails.ValidationStatuses as a JSON object {name: status} (NotStarted, Pending, InProgress, Completed, Failed); NULL when the record has none. Failure reasons are in record.';
COMMENT ON COLUMN sagemaker.model_package_details.image_scan_statuses IS 'ModelPackageStatusDetails.ImageScanStatuses as a JSON object {name: status}; NULL when the record has none. Failure reasons are in record.';
COMMENT ON COLUMN sagemaker.model_package_details.additional_image_uris IS 'AdditionalInferenceSpecifications[].Containers[].Image: the images of the additional inference specifications, in order (image_uris holds the main one''s).';
COMMENT ON COLUMN sagemaker.model_package_details.additional_model_data_urls IS 'AdditionalInferenceSpecifications[].Containers[].ModelDataUrl (or ModelDataSource.S3DataSource.S3Uri), in order (model_data_urls holds the main one''s).';

-- The rows stored before, from their record (a reconcile's re-read rewrites any
-- row whose typed columns differ from what the service parses).
UPDATE sagemaker.model_package_details d
   SET generated_by = d.record #>> '{MetadataProperties,GeneratedBy}',
       project_id = d.record #>> '{MetadataProperties,ProjectId}',
       commit_id = d.record #>> '{MetadataProperties,CommitId}',
       repository = d.record #>> '{MetadataProperties,Repository}',
       validation_statuses = (
           SELECT jsonb_object_agg(v ->> 'Name', v -> 'Status')
             FROM jsonb_array_elements(CASE WHEN jsonb_typeof(
                      d.record #> '{ModelPackageStatusDetails,ValidationStatuses}') = 'array'
                  THEN d.record #> '{ModelPackageStatusDetails,ValidationStatuses}' END) v
            WHERE jsonb_typeof(v -> 'Name') = 'string'),
       image_scan_statuses = (
           SELECT jsonb_object_agg(v ->> 'Name', v -> 'Status')
             FROM jsonb_array_elements(CASE WHEN jsonb_typeof(
                      d.record #> '{ModelPackageStatusDetails,ImageScanStatuses}') = 'array'
                  THEN d.record #> '{ModelPackageStatusDetails,ImageScanStatuses}' END) v
            WHERE jsonb_typeof(v -> 'Name') = 'string'),
       additional_image_uris = ARRAY(
           SELECT c ->> 'Image'
             FROM jsonb_array_elements(CASE WHEN jsonb_typeof(
                      d.record -> 'AdditionalInferenceSpecifications') = 'array'
                  THEN d.record -> 'AdditionalInferenceSpecifications' END)
                  WITH ORDINALITY s(spec, i),
                  jsonb_array_elements(CASE WHEN jsonb_typeof(s.spec -> 'Containers') = 'array'
                                            THEN s.spec -> 'Containers' END)
                  WITH ORDINALITY k(c, j)
            WHERE c ->> 'Image' IS NOT NULL
            ORDER BY s.i, k.j),
       additional_model_data_urls = ARRAY(
           SELECT coalesce(c ->> 'ModelDataUrl', c #>> '{ModelDataSource,S3DataSource,S3Uri}')
             FROM jsonb_array_elements(CASE WHEN jsonb_typeof(
                      d.record -> 'AdditionalInferenceSpecifications') = 'array'
                  THEN d.record -> 'AdditionalInferenceSpecifications' END)
                  WITH ORDINALITY s(spec, i),
                  jsonb_array_elements(CASE WHEN jsonb_typeof(s.spec -> 'Containers') = 'array'
                                            THEN s.spec -> 'Containers' END)
                  WITH ORDINALITY k(c, j)
            WHERE coalesce(c ->> 'ModelDataUrl', c #>> '{ModelDataSource,S3DataSource,S3Uri}')
                  IS NOT NULL
            ORDER BY s.i, k.j)
 WHERE d.record ? 'MetadataProperties' OR d.record ? 'ModelPackageStatusDetails'
    OR d.record ? 'AdditionalInferenceSpecifications';

-- ---------------------------------------------------------------- reader role
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        GRANT SELECT ON sagemaker.models, sagemaker.model_containers, sagemaker.endpoints,
                        sagemaker.endpoint_models, sagemaker.deployments_state,
                        sagemaker.deployed_model_packages, sagemaker.unapproved_deployments,
                        sagemaker.undeployed_approved_model_packages,
                        sagemaker.cross_account_deployments
           TO sagemaker_reader;
    END IF;
END
$$;
