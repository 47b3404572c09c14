CREATE TABLE "webhook_attempts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"delivery_id" uuid NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"status_code" smallint,
	"latency_ms" integer NOT NULL,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" uuid PRIMARY KEY NOT NULL,
	"webhook_id" uuid NOT NULL,
	"partnership_id" uuid NOT NULL,
	"event_seq" integer NOT NULL,
	"event_type" text NOT NULL,
	"subject_type" text NOT NULL,
	"subject_id" text NOT NULL,
	"actor_id" uuid,
	"event_at" timestamp with time zone NOT NULL,
	"status" text NOT NULL,
	"attempt_count" smallint DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone,
	"lease_until" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "webhook_deliveries_status_check" CHECK ("webhook_deliveries"."status" in ('pending', 'delivered', 'failed')),
	CONSTRAINT "webhook_deliveries_next_attempt_check" CHECK (("webhook_deliveries"."status" = 'pending') = ("webhook_deliveries"."next_attempt_at" is not null))
);
--> statement-breakpoint
CREATE TABLE "webhooks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"partnership_id" uuid NOT NULL,
	"url" text NOT NULL,
	"event_types" text[] NOT NULL,
	"secret_scheme" text NOT NULL,
	"secret_ciphertext" text NOT NULL,
	"created_by" uuid NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"failing_since" timestamp with time zone,
	"disabled_at" timestamp with time zone,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "webhooks_secret_scheme_check" CHECK ("webhooks"."secret_scheme" in ('plain-v0')),
	CONSTRAINT "webhooks_event_types_check" CHECK (cardinality("webhooks"."event_types") between 1 and 64)
);
--> statement-breakpoint
ALTER TABLE "webhook_attempts" ADD CONSTRAINT "webhook_attempts_delivery_id_webhook_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."webhook_deliveries"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_id_webhooks_id_fk" FOREIGN KEY ("webhook_id") REFERENCES "public"."webhooks"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_partnership_id_partnerships_id_fk" FOREIGN KEY ("partnership_id") REFERENCES "public"."partnerships"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_attempts_delivery_idx" ON "webhook_attempts" USING btree ("delivery_id","at");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_webhook_idx" ON "webhook_deliveries" USING btree ("webhook_id","id");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries" USING btree ("next_attempt_at") WHERE "webhook_deliveries"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "webhooks_partnership_idx" ON "webhooks" USING btree ("partnership_id","id");--> statement-breakpoint
CREATE INDEX "webhooks_partnership_live_idx" ON "webhooks" USING btree ("partnership_id") WHERE "webhooks"."deleted_at" is null and "webhooks"."disabled_at" is null;--> statement-breakpoint
-- A UUIDv7 made in SQL (PostgreSQL 15 has none built in): 48 bits of milliseconds, then gen_random_uuid's
-- random bits with the version set to 7. Deliveries are made by the trigger below, so their ids are made here.
CREATE FUNCTION accord_uuidv7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
        placing substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;
--> statement-breakpoint
-- The transactional outbox: every event, whoever writes it (appendEvent, the sign-off's one statement, the
-- scheduler), makes one pending delivery per live webhook of its partnership that wants its type, in the
-- event's own transaction: a rolled-back event makes none, a committed one cannot be missed. Ids and types
-- only (the payload is built from them when sent): never free text. With no webhook it costs one probe of
-- the partial index webhooks_partnership_live_idx.
CREATE FUNCTION accord_webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_deliveries (id, webhook_id, partnership_id, event_seq, event_type, subject_type, subject_id,
                                  actor_id, event_at, status, next_attempt_at, created_at)
  SELECT accord_uuidv7(), w.id, NEW.partnership_id, NEW.seq, NEW.type, NEW.subject_type, NEW.subject_id,
         NEW.actor_id, NEW.at, 'pending', NEW.at, NEW.at
  FROM webhooks w
  WHERE w.partnership_id = NEW.partnership_id AND w.deleted_at IS NULL AND w.disabled_at IS NULL
    AND (NEW.type = ANY (w.event_types) OR '*' = ANY (w.event_types));
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER events_webhook_outbox AFTER INSERT ON events
  FOR EACH ROW EXECUTE FUNCTION accord_webhook_outbox();
