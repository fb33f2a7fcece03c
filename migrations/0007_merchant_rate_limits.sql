-- An operator's per-merchant override of the API rate limit (null: the server's default).
alter table merchants add column rate_per_second integer check (rate_per_second >= 0);
alter table merchants add column rate_burst integer check (rate_burst >= 1);
