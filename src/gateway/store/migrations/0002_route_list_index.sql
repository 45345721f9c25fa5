-- Lets the route listing stream rows in list order without a sort.
CREATE INDEX routes_list_order ON routes (org_id, model_alias, priority, id);
