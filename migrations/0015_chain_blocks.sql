CREATE TABLE "chain_blocks" (
	"partnership_id" uuid NOT NULL,
	"block" integer NOT NULL,
	"mac" text NOT NULL,
	"verified_at" timestamp with time zone NOT NULL,
	CONSTRAINT "chain_blocks_pkey" PRIMARY KEY("partnership_id","block")
);
--> statement-breakpoint
ALTER TABLE "chain_blocks" ADD CONSTRAINT "chain_blocks_partnership_id_partnerships_id_fk" FOREIGN KEY ("partnership_id") REFERENCES "public"."partnerships"("id") ON DELETE cascade ON UPDATE no action;