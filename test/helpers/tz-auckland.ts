/**
 * Imported first (before anything that touches dates) by tests that must prove
 * their subject does not depend on the process time zone: a zone far from UTC,
 * on the other side of the date line, with its own DST on other dates.
 */
process.env.TZ = 'Pacific/Auckland'
