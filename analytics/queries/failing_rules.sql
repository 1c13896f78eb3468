-- Which rules and groupings fail most? Parties without quorum by area, role and reason, with the people
-- excluded per reason and the signing rules that applied but could not be satisfied.
SELECT
  p.area_code,
  p.role,
  p.person_type,
  p.reason_code,
  COUNT(*) AS parties,
  SUM(p.rules_applicable - p.rules_satisfied) AS unsatisfied_rules,
  SUM(p.excluded_max_amount) AS excluded_max_amount,
  SUM(p.excluded_blocked) AS excluded_blocked,
  SUM(p.excluded_expired + p.excluded_not_yet_valid) AS excluded_mandate_dates,
  SUM(p.excluded_no_operator + p.excluded_no_account_access) AS excluded_operator,
  SUM(p.excluded_not_found + p.excluded_unknown_restriction) AS excluded_other
FROM fact_party_outcomes p
WHERE p.quorum_met = FALSE
GROUP BY p.area_code, p.role, p.person_type, p.reason_code
ORDER BY parties DESC, p.area_code, p.role, p.person_type, p.reason_code
