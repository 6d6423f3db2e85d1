-- Every transfer paid for an index entry nothing reads: no query looks
-- transfers up by operation (ledger operations are never deleted, so the
-- foreign key needs no index either), and most transfers (deposits, fan to
-- fan) have no reference. Fewer index writes per posting; lookups by what a
-- transfer pays for keep their index, over the transfers that have one.
DROP INDEX transfers_operation_idx;
DROP INDEX transfers_reference_idx;
CREATE INDEX transfers_reference_idx ON transfers (reference_type, reference_id)
    WHERE reference_id IS NOT NULL;
