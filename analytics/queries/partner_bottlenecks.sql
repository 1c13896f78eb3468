-- Where are the bottlenecks in the flow, and which partners cause them?
-- Per area and partner: calls, errors, error rate and average latency, with the orders that were parked.
SELECT area_code, partner, calls, errors,
       ROUND(CAST(errors AS DOUBLE) / NULLIF(CAST(calls AS DOUBLE), 0), 4) AS error_rate,
       ROUND(CAST(latency_ms AS DOUBLE) / NULLIF(CAST(calls AS DOUBLE), 0), 1) AS avg_latency_ms,
       parked_orders
FROM (
  SELECT area_code, 'poderes' AS partner, SUM(poderes_calls) AS calls, SUM(poderes_errors) AS errors,
         SUM(poderes_latency_ms) AS latency_ms,
         SUM(CASE WHEN times_parked > 0 AND poderes_errors > 0 THEN 1 ELSE 0 END) AS parked_orders
  FROM fact_orders GROUP BY area_code
  UNION ALL
  SELECT area_code, 'pessoas' AS partner, SUM(pessoas_calls), SUM(pessoas_errors), SUM(pessoas_latency_ms),
         SUM(CASE WHEN times_parked > 0 AND pessoas_errors > 0 THEN 1 ELSE 0 END)
  FROM fact_orders GROUP BY area_code
  UNION ALL
  SELECT area_code, 'cadastro' AS partner, SUM(cadastro_calls), SUM(cadastro_errors), SUM(cadastro_latency_ms),
         SUM(CASE WHEN times_parked > 0 AND cadastro_errors > 0 THEN 1 ELSE 0 END)
  FROM fact_orders GROUP BY area_code
) AS per_partner
ORDER BY area_code, partner
