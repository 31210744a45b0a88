"""Salesforce Virtual Seller connector: OAuth2 username-password login, stock and prices by
warehouse and companies, orders with the buyer inline (see shared/specs/erp-apis.md)."""
