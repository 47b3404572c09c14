-- History is immutable: the audit log accepts INSERT only. UPDATE, DELETE and TRUNCATE fail,
-- whoever asks (only a superuser disabling the triggers can get around this, and
-- GET /v1/partnerships/{pid}/audit/verify then reports the altered row).
CREATE FUNCTION accord_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP USING ERRCODE = 'P0001';
END
$$;
--> statement-breakpoint
CREATE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION accord_events_append_only();
--> statement-breakpoint
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION accord_events_append_only();
