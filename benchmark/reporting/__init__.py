"""Reports built on the records (benchmark/store/records.py) and the verdicts' statistics: accuracy intervals
drawn the same way everywhere, readable log axes, and the cost-accuracy frontier."""
