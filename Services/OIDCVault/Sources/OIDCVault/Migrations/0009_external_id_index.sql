-- SCIM clients (Entra ID) look users up by externalId before each create; so does the
-- provisioning from User&Identity's side of flow 3.
CREATE INDEX users_external_id ON users (tenant_id, external_id) WHERE external_id IS NOT NULL;
