CREATE TABLE "review_responses" (
	"review_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"outcome" text NOT NULL,
	"rating" smallint NOT NULL,
	"note" text,
	"responded_at" timestamp with time zone NOT NULL,
	CONSTRAINT "review_responses_pkey" PRIMARY KEY("review_id","user_id"),
	CONSTRAINT "review_responses_outcome_check" CHECK ("review_responses"."outcome" in ('keep', 'revise', 'retire')),
	CONSTRAINT "review_responses_rating_check" CHECK ("review_responses"."rating" between 1 and 5)
);
--> statement-breakpoint
CREATE TABLE "reviews" (
	"id" uuid PRIMARY KEY NOT NULL,
	"partnership_id" uuid NOT NULL,
	"agreement_id" uuid NOT NULL,
	"version_number" integer NOT NULL,
	"trigger" text NOT NULL,
	"status" text NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"required_responders" jsonb NOT NULL,
	"outcome" text,
	"opened_by" uuid,
	"opened_at" timestamp with time zone NOT NULL,
	"closed_at" timestamp with time zone,
	"overdue_at" timestamp with time zone,
	CONSTRAINT "reviews_trigger_check" CHECK ("reviews"."trigger" in ('schedule', 'early')),
	CONSTRAINT "reviews_status_check" CHECK ("reviews"."status" in ('open', 'completed')),
	CONSTRAINT "reviews_outcome_check" CHECK ("reviews"."outcome" is null or "reviews"."outcome" in ('keep', 'revise', 'retire'))
);
--> statement-breakpoint
CREATE TABLE "calendar_tokens" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "review_responses" ADD CONSTRAINT "review_responses_review_id_reviews_id_fk" FOREIGN KEY ("review_id") REFERENCES "public"."reviews"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "review_responses" ADD CONSTRAINT "review_responses_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_partnership_id_partnerships_id_fk" FOREIGN KEY ("partnership_id") REFERENCES "public"."partnerships"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_agreement_id_agreements_id_fk" FOREIGN KEY ("agreement_id") REFERENCES "public"."agreements"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_opened_by_users_id_fk" FOREIGN KEY ("opened_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "calendar_tokens" ADD CONSTRAINT "calendar_tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "reviews_one_open_idx" ON "reviews" USING btree ("agreement_id") WHERE "reviews"."status" = 'open';--> statement-breakpoint
CREATE UNIQUE INDEX "reviews_scheduled_once_idx" ON "reviews" USING btree ("agreement_id","due_at") WHERE "reviews"."trigger" = 'schedule';--> statement-breakpoint
CREATE INDEX "reviews_agreement_idx" ON "reviews" USING btree ("agreement_id","id");--> statement-breakpoint
CREATE INDEX "reviews_open_due_idx" ON "reviews" USING btree ("due_at") WHERE "reviews"."status" = 'open' and "reviews"."overdue_at" is null;--> statement-breakpoint
CREATE INDEX "reviews_partnership_open_idx" ON "reviews" USING btree ("partnership_id") WHERE "reviews"."status" = 'open';--> statement-breakpoint
CREATE UNIQUE INDEX "calendar_tokens_token_hash_idx" ON "calendar_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "calendar_tokens_user_idx" ON "calendar_tokens" USING btree ("user_id");