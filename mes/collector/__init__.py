"""The collector: live gauge scans and process values from every unit into the database."""
