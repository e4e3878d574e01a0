/** Every response carries `x-request-id`: the caller's (if sane) or a new `req_…`. */
import type { RequestHandler } from 'express';
import { newId } from '../domain/ids';

const SANE = /^[A-Za-z0-9._:-]{8,128}$/;

export const requestId: RequestHandler = (req, res, next) => {
  const given = req.get('x-request-id');
  const id = given && SANE.test(given) ? given : newId('request');
  res.locals.requestId = id;
  res.setHeader('x-request-id', id);
  next();
};
