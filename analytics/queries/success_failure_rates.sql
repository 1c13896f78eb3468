-- What are the success and failure rates by area, platform and signature method?
SELECT
  f.area_code,
  f.platform,
  f.signature_method,
  COUNT(*) AS orders,
  SUM(CASE WHEN f.status = 'QUORUM_MET' THEN 1 ELSE 0 END) AS quorum_met,
  SUM(CASE WHEN f.status = 'NO_QUORUM' THEN 1 ELSE 0 END) AS no_quorum,
  SUM(CASE WHEN f.status = 'FAILED' THEN 1 ELSE 0 END) AS failed,
  ROUND(CAST(SUM(CASE WHEN f.status = 'QUORUM_MET' THEN 1 ELSE 0 END) AS DOUBLE)
        / NULLIF(CAST(SUM(CASE WHEN f.status IN ('QUORUM_MET', 'NO_QUORUM', 'FAILED') THEN 1 ELSE 0 END) AS DOUBLE), 0), 4)
    AS success_rate,
  ROUND(CAST(SUM(CASE WHEN f.status IN ('NO_QUORUM', 'FAILED') THEN 1 ELSE 0 END) AS DOUBLE)
        / NULLIF(CAST(SUM(CASE WHEN f.status IN ('QUORUM_MET', 'NO_QUORUM', 'FAILED') THEN 1 ELSE 0 END) AS DOUBLE), 0), 4)
    AS failure_rate
FROM fact_orders f
GROUP BY f.area_code, f.platform, f.signature_method
ORDER BY f.area_code, f.platform, f.signature_method
