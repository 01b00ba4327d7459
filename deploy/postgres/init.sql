-- Run once by the postgres image when deploy/compose.yaml first creates its data
-- volume (as the superuser, in database warehouse). The service gets a role of
-- its own that is no superuser: it may create the sagemaker schema in this
-- database and owns what its migrations create, nothing more. The reader role
-- exists beforehand, since registry_sync may not create roles.
CREATE ROLE registry_sync LOGIN PASSWORD 'registry-sync'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
GRANT CONNECT, CREATE ON DATABASE warehouse TO registry_sync;
CREATE ROLE sagemaker_reader NOLOGIN;
