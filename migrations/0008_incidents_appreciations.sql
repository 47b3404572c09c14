CREATE TABLE "appreciations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"partnership_id" uuid NOT NULL,
	"agreement_id" uuid NOT NULL,
	"version_number" integer NOT NULL,
	"clause_key" text,
	"author_id" uuid NOT NULL,
	"text" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "incidents" (
	"id" uuid PRIMARY KEY NOT NULL,
	"partnership_id" uuid NOT NULL,
	"agreement_id" uuid NOT NULL,
	"version_number" integer NOT NULL,
	"clause_key" text NOT NULL,
	"clause" jsonb NOT NULL,
	"subject_id" uuid NOT NULL,
	"reporter_id" uuid NOT NULL,
	"status" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"description" text NOT NULL,
	"reported_at" timestamp with time zone NOT NULL,
	"answer" text,
	"answer_note" text,
	"answered_at" timestamp with time zone,
	"consequence_index" smallint,
	"resolution_note" text,
	"resolved_by" uuid,
	"resolved_at" timestamp with time zone,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "incidents_status_check" CHECK ("incidents"."status" in ('reported', 'acknowledged', 'disputed', 'resolved')),
	CONSTRAINT "incidents_answer_kind_check" CHECK ("incidents"."answer" is null or "incidents"."answer" in ('acknowledged', 'disputed')),
	CONSTRAINT "incidents_answer_check" CHECK (("incidents"."answer" is null) = ("incidents"."answered_at" is null)),
	CONSTRAINT "incidents_resolution_check" CHECK (("incidents"."status" = 'resolved') = ("incidents"."resolved_at" is not null)),
	CONSTRAINT "incidents_consequence_check" CHECK ("incidents"."consequence_index" is null or "incidents"."consequence_index" between 0 and 9)
);
--> statement-breakpoint
ALTER TABLE "agreements" ADD COLUMN "open_incidents" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "agreements" ADD COLUMN "last_incident_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "appreciations" ADD CONSTRAINT "appreciations_partnership_id_partnerships_id_fk" FOREIGN KEY ("partnership_id") REFERENCES "public"."partnerships"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "appreciations" ADD CONSTRAINT "appreciations_agreement_id_agreements_id_fk" FOREIGN KEY ("agreement_id") REFERENCES "public"."agreements"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "appreciations" ADD CONSTRAINT "appreciations_author_id_users_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "incidents" ADD CONSTRAINT "incidents_partnership_id_partnerships_id_fk" FOREIGN KEY ("partnership_id") REFERENCES "public"."partnerships"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "incidents" ADD CONSTRAINT "incidents_agreement_id_agreements_id_fk" FOREIGN KEY ("agreement_id") REFERENCES "public"."agreements"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "incidents" ADD CONSTRAINT "incidents_subject_id_users_id_fk" FOREIGN KEY ("subject_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "incidents" ADD CONSTRAINT "incidents_reporter_id_users_id_fk" FOREIGN KEY ("reporter_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "incidents" ADD CONSTRAINT "incidents_resolved_by_users_id_fk" FOREIGN KEY ("resolved_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "appreciations_agreement_idx" ON "appreciations" USING btree ("agreement_id","id");--> statement-breakpoint
CREATE INDEX "appreciations_agreement_created_idx" ON "appreciations" USING btree ("agreement_id","created_at");--> statement-breakpoint
CREATE INDEX "incidents_agreement_idx" ON "incidents" USING btree ("agreement_id","id");--> statement-breakpoint
CREATE INDEX "incidents_agreement_occurred_idx" ON "incidents" USING btree ("agreement_id","occurred_at");--> statement-breakpoint
CREATE INDEX "incidents_partnership_unresolved_idx" ON "incidents" USING btree ("partnership_id","id") WHERE "incidents"."status" <> 'resolved';