-- Features as code: `apply` changes many registry rows in one transaction, planned from a
-- read made before it. fs_expect lets a statement of that transaction fail it (and so roll
-- back everything) when the rows it is about to change are no longer the ones planned from.
-- SQLSTATE FS409 tells the application "plan again", unlike any real error.
CREATE FUNCTION fs_expect(p_ok BOOLEAN, p_message TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
  IF p_ok IS NOT TRUE THEN
    RAISE EXCEPTION USING ERRCODE = 'FS409', MESSAGE = p_message;
  END IF;
  RETURN true;
END
$$;
REVOKE ALL ON FUNCTION fs_expect(BOOLEAN, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fs_expect(BOOLEAN, TEXT) TO fs_app;
