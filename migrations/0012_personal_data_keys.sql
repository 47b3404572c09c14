CREATE TABLE "data_keys" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"sealed_key" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "erased_identities" (
	"identity_hash" text PRIMARY KEY NOT NULL,
	"erased_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "agreement_versions" ADD COLUMN "declined_by" uuid;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "erased_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "data_keys" ADD CONSTRAINT "data_keys_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agreement_versions" ADD CONSTRAINT "agreement_versions_declined_by_users_id_fk" FOREIGN KEY ("declined_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
-- Who declined each declined version: the actor of its version.declined event (whose data key seals the reason).
UPDATE "agreement_versions" v SET "declined_by" = e."actor_id"
  FROM "events" e
  WHERE v."status" = 'declined' AND e."type" = 'version.declined' AND e."subject_id" = v."id"::text;--> statement-breakpoint
-- Free texts written before data keys existed are marked `plain:`; the next start seals them under their
-- author's data key (users/personal-text.service.ts, sealPlainTexts). Every value is then either sealed
-- (`v1.`) or marked: a text a person wrote can never be taken for the other.
UPDATE "agreement_versions" SET "decline_reason" = 'plain:' || "decline_reason" WHERE "decline_reason" IS NOT NULL;--> statement-breakpoint
UPDATE "review_responses" SET "note" = 'plain:' || "note" WHERE "note" IS NOT NULL;--> statement-breakpoint
UPDATE "appreciations" SET "text" = 'plain:' || "text";--> statement-breakpoint
UPDATE "incidents" SET "description" = 'plain:' || "description",
  "answer_note" = 'plain:' || "answer_note",
  "resolution_note" = 'plain:' || "resolution_note";
