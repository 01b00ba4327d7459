-- Deployments (syncer/deployments/store.py; the tables are migration 0016's).

-- name: store_model_page
-- A page of model records: each model, its containers (with the package each
-- designates, if mirrored) and the endpoints that serve it, in one statement.
-- A row is written only when it differs from the stored one, so a re-read of
-- unchanged models writes nothing. A model's periods on endpoints its record
-- no longer lists end; those it lists and that are not open start. Rows
-- arrive sorted by model ARN (lock order).
WITH models_in AS (
    SELECT *
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                  $6::text[], $7::boolean[], $8::text[], $9::text[], $10::text[],
                  $11::integer[])
        AS t(model_arn, account_id, region, model_name, creation_time, execution_role_arn,
             enable_network_isolation, inference_execution_mode, tags, record, containers)
),
containers_in AS (
    SELECT t.*, sagemaker.model_package_arn_of(t.model_package_name, t.model_arn) AS designated
      FROM unnest($12::text[], $13::integer[], $14::text[], $15::text[], $16::text[],
                  $17::text[], $18::text[], $19::text[])
        AS t(model_arn, container_position, container_hostname, image, model_data_url,
             container_mode, model_package_name, inference_specification_name)
),
links_in AS (
    SELECT *
      FROM unnest($20::text[], $21::text[], $22::text[], $23::timestamptz[])
        AS t(model_arn, endpoint_arn, endpoint_name, deployed_since)
),
models_written AS (
    INSERT INTO sagemaker.models AS m (
        model_arn, account_id, region, model_name, creation_time, execution_role_arn,
        enable_network_isolation, inference_execution_mode, tags, record)
    SELECT i.model_arn, i.account_id, i.region, i.model_name, i.creation_time,
           i.execution_role_arn, i.enable_network_isolation, i.inference_execution_mode,
           i.tags::jsonb, i.record::jsonb
      FROM models_in i
    ON CONFLICT (model_arn) DO UPDATE
       SET model_name = excluded.model_name,
           creation_time = excluded.creation_time,
           execution_role_arn = excluded.execution_role_arn,
           enable_network_isolation = excluded.enable_network_isolation,
           inference_execution_mode = excluded.inference_execution_mode,
           tags = excluded.tags,
           record = excluded.record,
           last_changed_at = now(),
           deleted_at = NULL
     WHERE m.record IS DISTINCT FROM excluded.record OR m.deleted_at IS NOT NULL
    RETURNING 1
),
containers_written AS (
    INSERT INTO sagemaker.model_containers AS c (
        model_arn, container_position, account_id, region, container_hostname, image,
        model_data_url, container_mode, model_package_name, inference_specification_name,
        model_package_arn, model_package_account_id)
    SELECT i.model_arn, i.container_position, m.account_id, m.region, i.container_hostname,
           i.image, i.model_data_url, i.container_mode, i.model_package_name,
           i.inference_specification_name,
           (SELECT p.model_package_arn FROM sagemaker.model_packages p
             WHERE p.model_package_arn = i.designated),
           split_part(i.designated, ':', 5)
      FROM containers_in i
      JOIN models_in m USING (model_arn)
    ON CONFLICT (model_arn, container_position) DO UPDATE
       SET account_id = excluded.account_id,
           region = excluded.region,
           container_hostname = excluded.container_hostname,
           image = excluded.image,
           model_data_url = excluded.model_data_url,
           container_mode = excluded.container_mode,
           model_package_name = excluded.model_package_name,
           inference_specification_name = excluded.inference_specification_name,
           model_package_arn = excluded.model_package_arn,
           model_package_account_id = excluded.model_package_account_id,
           deleted_at = NULL
     WHERE (c.container_hostname, c.image, c.model_data_url, c.container_mode,
            c.model_package_name, c.inference_specification_name, c.model_package_arn,
            c.model_package_account_id, c.deleted_at)
           IS DISTINCT FROM
           (excluded.container_hostname, excluded.image, excluded.model_data_url,
            excluded.container_mode, excluded.model_package_name,
            excluded.inference_specification_name, excluded.model_package_arn,
            excluded.model_package_account_id, NULL::timestamptz)
    RETURNING 1
),
containers_retired AS (
    UPDATE sagemaker.model_containers c
       SET deleted_at = now()
      FROM models_in m
     WHERE c.model_arn = m.model_arn
       AND c.container_position >= m.containers
       AND c.deleted_at IS NULL
    RETURNING 1
),
links_started AS (
    INSERT INTO sagemaker.endpoint_models (
        account_id, region, endpoint_arn, endpoint_name, model_arn, model_name, deployed_since)
    SELECT m.account_id, m.region, i.endpoint_arn, i.endpoint_name, i.model_arn, m.model_name,
           i.deployed_since
      FROM links_in i
      JOIN models_in m USING (model_arn)
    ON CONFLICT (endpoint_arn, model_arn) WHERE ended_at IS NULL DO NOTHING
    RETURNING 1
),
links_ended AS (
    UPDATE sagemaker.endpoint_models l
       SET ended_at = now()
      FROM models_in m
     WHERE l.model_arn = m.model_arn
       AND l.ended_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM links_in i
                        WHERE i.model_arn = l.model_arn AND i.endpoint_arn = l.endpoint_arn)
    RETURNING 1
)
SELECT (SELECT count(*) FROM models_written) AS models,
       (SELECT count(*) FROM containers_written)
     + (SELECT count(*) FROM containers_retired) AS containers,
       (SELECT count(*) FROM links_started) AS started,
       (SELECT count(*) FROM links_ended) AS ended;

-- name: store_endpoint_page
-- A page of endpoint records; an unchanged one writes nothing, one that was
-- marked deleted and is back is un-deleted. Returns the endpoints of the page
-- that changed, now or less than $12 seconds ago as the mirror saw it, and
-- whether this statement wrote them: whose models are read again. A change
-- that the last full read stored is left out: that read read the models after it.
WITH incoming AS (
    SELECT *
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                  $7::text[], $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[])
        AS t(endpoint_arn, account_id, region, endpoint_name, endpoint_config_name,
             endpoint_status, failure_reason, creation_time, last_modified_time, tags, record)
),
written AS (
    INSERT INTO sagemaker.endpoints AS e (
        endpoint_arn, account_id, region, endpoint_name, endpoint_config_name, endpoint_status,
        failure_reason, creation_time, last_modified_time, tags, record)
    SELECT i.endpoint_arn, i.account_id, i.region, i.endpoint_name, i.endpoint_config_name,
           i.endpoint_status, i.failure_reason, i.creation_time, i.last_modified_time,
           i.tags::jsonb, i.record::jsonb
      FROM incoming i
    ON CONFLICT (endpoint_arn) DO UPDATE
       SET endpoint_name = excluded.endpoint_name,
           endpoint_config_name = excluded.endpoint_config_name,
           endpoint_status = excluded.endpoint_status,
           failure_reason = excluded.failure_reason,
           creation_time = excluded.creation_time,
           last_modified_time = excluded.last_modified_time,
           tags = excluded.tags,
           record = excluded.record,
           last_changed_at = now(),
           deleted_at = NULL
     WHERE e.record IS DISTINCT FROM excluded.record OR e.deleted_at IS NOT NULL
    RETURNING e.endpoint_arn, e.endpoint_name
)
SELECT w.endpoint_arn, w.endpoint_name, true AS written
  FROM written w
UNION ALL
SELECT e.endpoint_arn, e.endpoint_name, false
  FROM sagemaker.endpoints e
  JOIN incoming i USING (endpoint_arn)
 WHERE e.last_changed_at >= now() - make_interval(secs => $12)
   AND e.last_changed_at > coalesce((SELECT s.last_full_read_at
                                       FROM sagemaker.deployments_state s
                                      WHERE s.account_id = e.account_id
                                        AND s.region = e.region), '-infinity')
   AND NOT EXISTS (SELECT 1 FROM written w WHERE w.endpoint_arn = e.endpoint_arn);

-- name: end_endpoint_links
-- After reading the models that serve the endpoints $1: the open periods of
-- those endpoints with models not among the ones read ($2) end.
WITH ended AS (
    UPDATE sagemaker.endpoint_models l
       SET ended_at = now()
     WHERE l.endpoint_arn = ANY($1::text[])
       AND l.ended_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM unnest($2::text[]) s(model_arn)
                        WHERE s.model_arn = l.model_arn)
    RETURNING 1
)
SELECT count(*) FROM ended;

-- name: sweep_models
-- After a complete read of a target's models ($3: every ARN it returned):
-- the others are gone, and so are their periods on endpoints.
WITH gone AS (
    UPDATE sagemaker.models m
       SET deleted_at = now()
     WHERE m.account_id = $1 AND m.region = $2
       AND m.deleted_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM unnest($3::text[]) s(model_arn)
                        WHERE s.model_arn = m.model_arn)
    RETURNING m.model_arn
),
ended AS (
    UPDATE sagemaker.endpoint_models l
       SET ended_at = now()
      FROM gone
     WHERE l.model_arn = gone.model_arn
       AND l.ended_at IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS gone, (SELECT count(*) FROM ended) AS ended;

-- name: sweep_endpoints
-- As sweep_models, for the endpoints.
WITH gone AS (
    UPDATE sagemaker.endpoints e
       SET deleted_at = now()
     WHERE e.account_id = $1 AND e.region = $2
       AND e.deleted_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM unnest($3::text[]) s(endpoint_arn)
                        WHERE s.endpoint_arn = e.endpoint_arn)
    RETURNING e.endpoint_arn
),
ended AS (
    UPDATE sagemaker.endpoint_models l
       SET ended_at = now()
      FROM gone
     WHERE l.endpoint_arn = gone.endpoint_arn
       AND l.ended_at IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS gone, (SELECT count(*) FROM ended) AS ended;

-- name: resolve_model_containers
-- Containers whose package was not mirrored when they were stored: now it may be.
WITH resolved AS (
    UPDATE sagemaker.model_containers c
       SET model_package_arn = p.model_package_arn
      FROM sagemaker.model_packages p
     WHERE c.account_id = $1 AND c.region = $2
       AND c.model_package_arn IS NULL
       AND c.model_package_name IS NOT NULL
       AND c.deleted_at IS NULL
       AND p.model_package_arn = sagemaker.model_package_arn_of(c.model_package_name, c.model_arn)
    RETURNING 1
)
SELECT count(*) FROM resolved;

-- name: get_deployments_state
SELECT endpoints_cursor, last_full_read_started_at, last_full_read_at, last_read_at, last_error
  FROM sagemaker.deployments_state
 WHERE account_id = $1 AND region = $2;

-- name: deployments_read
-- A read completed: the cursor moves (never back); a full read ($4 its start) is recorded.
INSERT INTO sagemaker.deployments_state AS s (
    account_id, region, endpoints_cursor, last_full_read_started_at, last_full_read_at,
    last_read_at)
VALUES ($1, $2, $3, $4, CASE WHEN $4::timestamptz IS NOT NULL THEN now() END, now())
ON CONFLICT (account_id, region) DO UPDATE
   SET endpoints_cursor = greatest(s.endpoints_cursor, excluded.endpoints_cursor),
       last_full_read_started_at = coalesce(excluded.last_full_read_started_at,
                                            s.last_full_read_started_at),
       last_full_read_at = coalesce(excluded.last_full_read_at, s.last_full_read_at),
       last_read_at = excluded.last_read_at,
       last_error = NULL, last_error_at = NULL, consecutive_failures = 0;

-- name: deployments_failed
INSERT INTO sagemaker.deployments_state AS s
       (account_id, region, last_error, last_error_at, consecutive_failures)
VALUES ($1, $2, $3, now(), 1)
ON CONFLICT (account_id, region) DO UPDATE
   SET last_error = $3, last_error_at = now(),
       consecutive_failures = s.consecutive_failures + 1;
