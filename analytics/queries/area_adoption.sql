-- Which areas adopt AME, and which need support?
-- Per area and month: orders, distinct requesters, quorum and failure rates; needs_support flags a month
-- whose decided orders met quorum less than half the time or whose technical failures passed 10 %.
SELECT
  f.area_code,
  a.cost_center,
  SUBSTR(f.dt, 1, 7) AS month,
  COUNT(*) AS orders,
  COUNT(DISTINCT f.requester_id) AS requesters,
  ROUND(CAST(SUM(CASE WHEN f.status = 'QUORUM_MET' THEN 1 ELSE 0 END) AS DOUBLE)
        / NULLIF(CAST(SUM(CASE WHEN f.status IN ('QUORUM_MET', 'NO_QUORUM') THEN 1 ELSE 0 END) AS DOUBLE), 0), 4)
    AS quorum_rate,
  ROUND(CAST(SUM(CASE WHEN f.status = 'FAILED' THEN 1 ELSE 0 END) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE), 4)
    AS failure_share,
  CASE
    WHEN CAST(SUM(CASE WHEN f.status = 'QUORUM_MET' THEN 1 ELSE 0 END) AS DOUBLE)
         < 0.5 * CAST(SUM(CASE WHEN f.status IN ('QUORUM_MET', 'NO_QUORUM') THEN 1 ELSE 0 END) AS DOUBLE)
      OR CAST(SUM(CASE WHEN f.status = 'FAILED' THEN 1 ELSE 0 END) AS DOUBLE) > 0.1 * CAST(COUNT(*) AS DOUBLE)
    THEN TRUE ELSE FALSE
  END AS needs_support
FROM fact_orders f
LEFT JOIN dim_area a ON a.area_code = f.area_code
GROUP BY f.area_code, a.cost_center, SUBSTR(f.dt, 1, 7)
ORDER BY f.area_code, month
