-- Where are the bottlenecks in the flow, and which partners cause them?
-- Per area and partner: calls, errors, error rate and average latency, and the orders that were parked
-- while that partner failed. One scan of fact_orders, fanned out over the three partners.
SELECT
  f.area_code,
  p.partner,
  SUM(CASE p.partner WHEN 'poderes' THEN f.poderes_calls WHEN 'pessoas' THEN f.pessoas_calls
      ELSE f.cadastro_calls END) AS calls,
  SUM(CASE p.partner WHEN 'poderes' THEN f.poderes_errors WHEN 'pessoas' THEN f.pessoas_errors
      ELSE f.cadastro_errors END) AS errors,
  ROUND(CAST(SUM(CASE p.partner WHEN 'poderes' THEN f.poderes_errors WHEN 'pessoas' THEN f.pessoas_errors
                 ELSE f.cadastro_errors END) AS DOUBLE)
        / NULLIF(CAST(SUM(CASE p.partner WHEN 'poderes' THEN f.poderes_calls WHEN 'pessoas' THEN f.pessoas_calls
                          ELSE f.cadastro_calls END) AS DOUBLE), 0), 4) AS error_rate,
  ROUND(CAST(SUM(CASE p.partner WHEN 'poderes' THEN f.poderes_latency_ms WHEN 'pessoas' THEN f.pessoas_latency_ms
                 ELSE f.cadastro_latency_ms END) AS DOUBLE)
        / NULLIF(CAST(SUM(CASE p.partner WHEN 'poderes' THEN f.poderes_calls WHEN 'pessoas' THEN f.pessoas_calls
                          ELSE f.cadastro_calls END) AS DOUBLE), 0), 1) AS avg_latency_ms,
  SUM(CASE WHEN f.times_parked > 0 AND (CASE p.partner WHEN 'poderes' THEN f.poderes_errors
      WHEN 'pessoas' THEN f.pessoas_errors ELSE f.cadastro_errors END) > 0 THEN 1 ELSE 0 END) AS parked_orders
FROM fact_orders f
CROSS JOIN (VALUES ('poderes'), ('pessoas'), ('cadastro')) AS p (partner)
GROUP BY f.area_code, p.partner
ORDER BY f.area_code, p.partner
