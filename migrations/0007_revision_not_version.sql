-- "version" named three things: an agreement's texts, the ETag counter of a resource, and a draft's edit
-- counter. The counters are a resource's revision: what its ETag says.
ALTER TABLE "agreements" RENAME COLUMN "version" TO "revision";--> statement-breakpoint
ALTER TABLE "partnerships" RENAME COLUMN "version" TO "revision";--> statement-breakpoint
ALTER TABLE "users" RENAME COLUMN "version" TO "revision";--> statement-breakpoint
ALTER TABLE "agreement_versions" RENAME COLUMN "edit_version" TO "revision";
