"""SLA: due times in business time, the nudge ladders frozen on each ticket, and the sweep that climbs them."""
