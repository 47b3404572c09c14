-- RFC 8785 (JCS) text of a jsonb value, as the JCS library Accord hashes events with writes it, or NULL where
-- PostgreSQL cannot be sure it would write the same: a number that is not an integer within ±(2^53 - 1)
-- (JavaScript writes others in its own shortest form), a key outside ASCII (JCS orders keys by UTF-16 code
-- units, collate "C" by UTF-8 bytes: the two agree on ASCII). Strings and keys are written by PostgreSQL's
-- JSON escaping, which escapes what JSON.stringify escapes: " and \, and the controls below U+0020 as \b \f
-- \n \r \t or \u00xx. GET …/audit/verify recomputes the chain with it (src/audit/chain.repo.ts); Node checks
-- any event it returns NULL for. test/audit/chain-sql.test.ts holds it to the library on generated values.
-- A number, boolean, null or string: its JCS text, or NULL for a number JavaScript may write otherwise.
create or replace function accord_jcs_scalar(v jsonb) returns text
language sql immutable parallel safe strict
as $$
  select case when jsonb_typeof(v) <> 'number' then v::text
    when scale(v::numeric) = 0 and abs(v::numeric) <= 9007199254740991 then v::text end
$$;
--> statement-breakpoint
create or replace function accord_jcs(v jsonb, depth integer default 0) returns text
language plpgsql immutable parallel safe strict
as $$
declare
  out text := '';
  part text;
  k text;
  w jsonb;
  first boolean := true;
begin
  if depth > 64 then return null; end if; -- deeper than any event: Node checks it, within its own stack
  case jsonb_typeof(v)
    when 'object' then
      for k, w in select e.key, e.value from jsonb_each(v) e order by e.key collate "C" loop
        if octet_length(k) <> length(k) then return null; end if;
        part := case jsonb_typeof(w) when 'string' then w::text when 'object' then accord_jcs(w, depth + 1)
          when 'array' then accord_jcs(w, depth + 1) else accord_jcs_scalar(w) end;
        if part is null then return null; end if;
        out := out || case when first then '' else ',' end || to_json(k)::text || ':' || part;
        first := false;
      end loop;
      return '{' || out || '}';
    when 'array' then
      for w in select a from jsonb_array_elements(v) a loop
        part := case jsonb_typeof(w) when 'string' then w::text when 'object' then accord_jcs(w, depth + 1)
          when 'array' then accord_jcs(w, depth + 1) else accord_jcs_scalar(w) end;
        if part is null then return null; end if;
        out := out || case when first then '' else ',' end || part;
        first := false;
      end loop;
      return '[' || out || ']';
    else
      return accord_jcs_scalar(v);
  end case;
end
$$;
