-- Which quorum-validation flows cost most? Estimated cost per order (docs/cost.md's model) by area,
-- product, requester type and number of guarantors.
SELECT
  f.area_code,
  f.product_code,
  f.requester_type,
  f.guarantors,
  COUNT(*) AS orders,
  ROUND(SUM(f.estimated_cost_usd), 6) AS total_cost_usd,
  ROUND(SUM(f.estimated_cost_usd) / CAST(COUNT(*) AS DOUBLE), 8) AS avg_cost_usd,
  ROUND(CAST(SUM(f.state_transitions) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE), 2) AS avg_state_transitions,
  SUM(f.retries) AS retries,
  SUM(f.times_parked) AS times_parked
FROM fact_orders f
GROUP BY f.area_code, f.product_code, f.requester_type, f.guarantors
ORDER BY total_cost_usd DESC, f.area_code, f.product_code, f.requester_type, f.guarantors
