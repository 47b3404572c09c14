CREATE TABLE "agreement_versions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"agreement_id" uuid NOT NULL,
	"number" integer NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"content" jsonb NOT NULL,
	"content_hash" text NOT NULL,
	"previous_hash" text,
	"based_on" integer,
	"author_id" uuid NOT NULL,
	"required_signers" jsonb NOT NULL,
	"edit_version" integer DEFAULT 1 NOT NULL,
	"decline_reason" text,
	"created_at" timestamp with time zone NOT NULL,
	"proposed_at" timestamp with time zone,
	"activated_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	CONSTRAINT "agreement_versions_number_key" UNIQUE("agreement_id","number"),
	CONSTRAINT "agreement_versions_kind_check" CHECK ("agreement_versions"."kind" in ('terms', 'retirement')),
	CONSTRAINT "agreement_versions_status_check" CHECK ("agreement_versions"."status" in ('draft', 'proposed', 'active', 'superseded', 'declined', 'withdrawn', 'voided'))
);
--> statement-breakpoint
CREATE TABLE "agreements" (
	"id" uuid PRIMARY KEY NOT NULL,
	"partnership_id" uuid NOT NULL,
	"title" text NOT NULL,
	"category" text NOT NULL,
	"lifecycle" text NOT NULL,
	"active_version" integer,
	"open_proposal" integer,
	"last_version_number" integer DEFAULT 0 NOT NULL,
	"next_review_at" timestamp with time zone,
	"revision_requested" boolean DEFAULT false NOT NULL,
	"ever_proposed" boolean DEFAULT false NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_by" uuid NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "agreements_lifecycle_check" CHECK ("agreements"."lifecycle" in ('draft', 'proposed', 'active', 'suspended', 'retired', 'ended'))
);
--> statement-breakpoint
CREATE TABLE "signatures" (
	"id" uuid PRIMARY KEY NOT NULL,
	"version_id" uuid NOT NULL,
	"signer_id" uuid NOT NULL,
	"content_hash" text NOT NULL,
	"signed_at" timestamp with time zone NOT NULL,
	"receipt" text NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "agreement_versions" ADD CONSTRAINT "agreement_versions_agreement_id_agreements_id_fk" FOREIGN KEY ("agreement_id") REFERENCES "public"."agreements"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agreement_versions" ADD CONSTRAINT "agreement_versions_author_id_users_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agreements" ADD CONSTRAINT "agreements_partnership_id_partnerships_id_fk" FOREIGN KEY ("partnership_id") REFERENCES "public"."partnerships"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agreements" ADD CONSTRAINT "agreements_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "signatures" ADD CONSTRAINT "signatures_version_id_agreement_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."agreement_versions"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "signatures" ADD CONSTRAINT "signatures_signer_id_users_id_fk" FOREIGN KEY ("signer_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "agreement_versions_one_active_idx" ON "agreement_versions" USING btree ("agreement_id") WHERE "agreement_versions"."status" = 'active';--> statement-breakpoint
CREATE UNIQUE INDEX "agreement_versions_one_open_idx" ON "agreement_versions" USING btree ("agreement_id") WHERE "agreement_versions"."status" = 'proposed';--> statement-breakpoint
CREATE INDEX "agreements_partnership_idx" ON "agreements" USING btree ("partnership_id","id");--> statement-breakpoint
CREATE INDEX "agreements_next_review_idx" ON "agreements" USING btree ("next_review_at") WHERE "agreements"."next_review_at" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "signatures_one_live_idx" ON "signatures" USING btree ("version_id","signer_id") WHERE "signatures"."revoked_at" is null;--> statement-breakpoint
CREATE INDEX "signatures_version_idx" ON "signatures" USING btree ("version_id");